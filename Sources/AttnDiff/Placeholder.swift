import AttnCore

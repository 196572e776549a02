#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver (compiler-rt), for the entry point SwiftPM expects an executable to have.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#!/usr/bin/env python3
"""Writes Experiments/paraphrase-suite/pairs.csv: sentence pairs that say the same thing in other
words, each with an adjective that the suite's lexicons replace by a synonym (the pair should stay
a paraphrase) or an antonym (it should not). Every frame below was written by hand; each is filled
with the adjectives that make sense in it, so the pairs read as people write.

    python3 Tools/suite/make_paraphrase_pairs.py
"""
import csv
import pathlib

# (id, sentence A, sentence B, adjectives); {} is the adjective, the same in both sentences.
FRAMES = [
    ("hotel", "the hotel room was {}.", "our room at the hotel was {}.", "clean dirty quiet loud small cheap expensive warm cold"),
    ("exam", "the exam was {}.", "i found the test {}.", "easy hard boring interesting"),
    ("waiter", "the waiter was very {}.", "the man who served us was {}.", "friendly rude"),
    ("car", "this car is {}.", "the car is really {}.", "fast slow cheap expensive old new small safe dangerous"),
    ("movie", "the movie was {}.", "i thought the film was {}.", "good bad boring interesting beautiful"),
    ("weather", "the weather was {} all week.", "all week long the weather was {}.", "warm cold bright"),
    ("street", "the street outside is {} at night.", "at night the road outside is {}.", "quiet loud dark bright safe dangerous"),
    ("book", "her new book is {}.", "the book she just wrote is {}.", "good bad boring interesting"),
    ("coffee", "the coffee here is {}.", "they serve {} coffee here.", "good bad cheap expensive warm cold"),
    ("train", "the train to the city was {}.", "our train into town was {}.", "fast slow early late cheap expensive clean dirty"),
    ("teacher", "our teacher is very {}.", "the teacher we have is {}.", "friendly rude strong smart"),
    ("kitchen", "the kitchen is {}.", "their kitchen is {}.", "clean dirty small old new warm cold"),
    ("dog", "the neighbours' dog is {}.", "the dog next door is {}.", "friendly loud quiet small old happy"),
    ("task", "the task was {} for everyone.", "everyone found the job {}.", "easy hard boring"),
    ("shop", "the shop on the corner is {}.", "the store at the corner is {}.", "cheap expensive new old small quiet"),
    ("soup", "the soup was {}.", "the soup they gave us was {}.", "warm cold good bad"),
    ("city", "the city felt {} to us.", "we found the town {}.", "safe dangerous quiet loud clean dirty beautiful"),
    ("phone", "my phone is {}.", "the phone i have is {}.", "fast slow old new cheap expensive"),
    ("child", "the child looked {}.", "the little boy seemed {}.", "happy sad"),
    ("game", "the match was {}.", "the game we watched was {}.", "boring interesting good bad"),
    ("road", "the road to the village is {}.", "the way to the village is {}.", "safe dangerous long short"),
    ("meeting", "the meeting was {}.", "the meeting we had was {}.", "short long boring early late"),
    ("house", "their house is {}.", "the house they live in is {}.", "big small old new clean beautiful"),
    ("music", "the music at the party was {}.", "at the party the music was {}.", "loud quiet good bad"),
    ("water", "the water in the lake is {}.", "the lake's water is {}.", "warm cold clean dirty"),
    ("answer", "his answer was {}.", "the reply he gave was {}.", "short long good bad"),
    ("bag", "this bag is {}.", "the bag is quite {}.", "heavy light big small cheap expensive"),
    ("room", "the meeting room was {}.", "the room for the meeting was {}.", "big small bright dark warm cold"),
    ("neighbour", "my neighbour is {}.", "the woman next door is {}.", "friendly rude rich poor old"),
    ("bread", "the bread was {}.", "the bread they sold us was {}.", "fresh old soft hard"),
    ("lesson", "today's lesson was {}.", "the class today was {}.", "easy hard boring interesting short long"),
    ("flight", "our flight was {}.", "the plane we took was {}.", "early late full empty"),
    ("garden", "the garden is {} in spring.", "in spring the garden is {}.", "beautiful green"),
    ("idea", "that idea is {}.", "i think the idea is {}.", "good bad simple smart"),
    ("beach", "the beach was {} this morning.", "this morning the beach was {}.", "empty full quiet clean dirty beautiful"),
    ("service", "the service at the bank was {}.", "the bank's service was {}.", "fast slow good bad friendly rude"),
    ("film", "the ending of the film was {}.", "the film ended in a {} way.", "happy sad boring strange"),
    ("bed", "the bed in the guest room is {}.", "the guest room has a {} bed.", "soft hard big small old new"),
    ("story", "the story he told was {}.", "he told a {} story.", "long short funny sad strange interesting"),
    ("price", "the price of the ticket was {}.", "the ticket's price was {}.", "high low fair"),
    ("office", "the new office is {}.", "our new workplace is {}.", "big small bright dark quiet loud modern"),
    ("cake", "the cake she baked was {}.", "she baked a {} cake.", "good bad small big sweet"),
    ("walk", "the walk to school is {}.", "going to school on foot is {}.", "long short safe dangerous easy hard"),
    ("market", "the market was {} on saturday.", "on saturday the market was {}.", "busy quiet full empty"),
    ("museum", "the museum was {}.", "we thought the museum was {}.", "boring interesting big small empty full"),
    ("doctor", "the doctor was {} with us.", "the doctor treated us in a {} way.", "kind rude patient"),
    ("tea", "the tea is {}.", "this tea is {}.", "warm cold strong weak sweet"),
    ("party", "the party last night was {}.", "last night's party was {}.", "loud quiet good bad long short"),
    ("path", "the path through the woods is {}.", "the trail in the forest is {}.", "narrow wide safe dangerous dark"),
    ("report", "the report was {}.", "the report they wrote was {}.", "long short clear good bad"),
    ("sky", "the sky was {} this evening.", "this evening the sky was {}.", "clear dark bright beautiful"),
    ("chair", "this chair is {}.", "the chair is {}.", "comfortable heavy light old new cheap"),
]

here = pathlib.Path(__file__).resolve().parent
out = here.parent.parent / "Experiments" / "paraphrase-suite" / "pairs.csv"
rows = []
for frame, a, b, adjectives in FRAMES:
    for adjective in adjectives.split():
        rows.append({"id": f"{frame}-{adjective}", "a": a.format(adjective), "b": b.format(adjective)})
with open(out, "w", newline="", encoding="utf-8") as file:
    writer = csv.DictWriter(file, fieldnames=["id", "a", "b"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
print(f"wrote {len(rows)} pairs to {out}")

"""Write the small example data files the app ships, so a first run works offline.

Run `python assets/make_examples.py` to (re)create `assets/examples/`. The rows are built from
templates with a fixed seed, so the output is the same every time.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent / "examples"
SEED = 7

POSITIVE = [
    "a delight from start to finish", "warm, funny and beautifully acted", "the best thing I have seen this year",
    "clever, moving and full of heart", "I loved every minute of it", "a wonderful story told with care",
    "gorgeous to look at and great fun", "smart writing and a terrific cast", "it made me laugh and cry",
    "an absolute joy", "I would happily watch it again", "fresh, sharp and very entertaining",
]
NEGATIVE = [
    "a dull mess from start to finish", "badly acted and far too long", "the worst thing I have seen this year",
    "boring, loud and completely empty", "I was checking my watch the whole time", "a weak story told without care",
    "ugly to look at and no fun at all", "lazy writing and a wasted cast", "it made me want to leave",
    "an absolute chore", "I would never watch it again", "stale, clumsy and very tiresome",
]
SUBJECTS = ["This film", "The movie", "This series", "The new season", "This documentary", "The sequel", "This play"]
JOINERS = [": ", " is ", " was ", ", honestly, is "]

CAPITALS = {
    "France": "Paris", "Italy": "Rome", "Spain": "Madrid", "Germany": "Berlin", "Japan": "Tokyo",
    "Canada": "Ottawa", "Egypt": "Cairo", "Kenya": "Nairobi", "Peru": "Lima", "Norway": "Oslo",
    "Greece": "Athens", "Poland": "Warsaw", "Chile": "Santiago", "India": "New Delhi", "Ireland": "Dublin",
}
OPPOSITES = {
    "hot": "cold", "big": "small", "fast": "slow", "happy": "sad", "early": "late", "open": "closed",
    "light": "dark", "loud": "quiet", "full": "empty", "strong": "weak", "old": "young", "rich": "poor",
}
PLURALS = {
    "child": "children", "mouse": "mice", "foot": "feet", "tooth": "teeth", "person": "people",
    "leaf": "leaves", "knife": "knives", "box": "boxes", "city": "cities", "goose": "geese",
}

COMPANIES = ["Nordwind", "Alder Bank", "Kestrel Foods", "Brightline", "Orbis Steel", "Veltra", "Halcyon Air", "Mosaic Retail"]
UP = ["profit rose {n}%", "sales grew {n}% year on year", "raised its full-year outlook", "won a contract worth {n} million",
      "beat analyst forecasts", "shares jumped {n}% after results"]
DOWN = ["profit fell {n}%", "sales dropped {n}% year on year", "cut its full-year outlook", "lost a contract worth {n} million",
        "missed analyst forecasts", "shares slid {n}% after results"]
FLAT = ["will publish results on {day}", "named a new finance chief", "moved its head office to a new building",
        "held its annual meeting on {day}", "kept its dividend unchanged", "confirmed its reporting dates"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def sentiment_rows(rng: random.Random, n: int = 240) -> list[dict[str, str]]:
    """Movie-review sentences labelled positive or negative, balanced."""
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        phrase = rng.choice(POSITIVE if positive else NEGATIVE)
        text = f"{rng.choice(SUBJECTS)}{rng.choice(JOINERS)}{phrase}."
        rows.append({"text": text, "label": "positive" if positive else "negative"})
    rng.shuffle(rows)
    return rows


def instruction_rows(rng: random.Random) -> list[dict[str, str]]:
    """Short instruction/response pairs: capitals, opposites, plurals and small sums."""
    rows = []
    for country, city in CAPITALS.items():
        rows.append({"instruction": f"What is the capital of {country}?", "response": f"The capital of {country} is {city}."})
    for word, opposite in OPPOSITES.items():
        rows.append({"instruction": f"Give the opposite of the word '{word}'.", "response": f"The opposite of '{word}' is '{opposite}'."})
    for word, plural in PLURALS.items():
        rows.append({"instruction": f"What is the plural of '{word}'?", "response": f"The plural of '{word}' is '{plural}'."})
    for _ in range(40):
        a, b = rng.randint(2, 20), rng.randint(2, 20)
        rows.append({"instruction": f"What is {a} plus {b}?", "response": f"{a} plus {b} is {a + b}."})
    rng.shuffle(rows)
    return rows


def text2text_rows(rng: random.Random, n: int = 180) -> list[dict[str, str]]:
    """Made-up financial news lines with a one-word sentiment target."""
    rows = []
    for i in range(n):
        kind = ("positive", "negative", "neutral")[i % 3]
        template = rng.choice({"positive": UP, "negative": DOWN, "neutral": FLAT}[kind])
        event = template.format(n=rng.randint(2, 40), day=rng.choice(DAYS))
        rows.append({"text": f"{rng.choice(COMPANIES)} {event}.", "target": kind})
    rng.shuffle(rows)
    return rows


RUDE = ("Look it up yourself.", "Why would I know that?", "Stop asking me things.", "Not my problem.",
        "Figure it out on your own.")
KIND = ("Good question! ", "Happy to help: ", "Sure! ", "", "Of course. ")


def preference_rows(rng: random.Random, instructions: list[dict[str, str]]) -> list[dict[str, str]]:
    """Preference pairs on the instruction questions: a kind, right answer (chosen) against a rude non-answer or a
    wrong answer (rejected), so a model learns to prefer answers that are right and friendly."""
    rows = []
    answers = [r["response"] for r in instructions]
    for i, row in enumerate(instructions):
        chosen = rng.choice(KIND) + row["response"]
        if i % 2 == 0:
            rejected = rng.choice(RUDE)
        else:  # a right answer to another question: fluent, confident and wrong here
            rejected = rng.choice([a for a in answers if a != row["response"]])
        rows.append({"prompt": row["instruction"], "chosen": chosen, "rejected": rejected})
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """Write rows as a CSV file with a header."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    """Write rows as JSON lines."""
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    """Create the example files."""
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    write_csv(OUT / "sentiment.csv", sentiment_rows(rng))
    instructions = instruction_rows(rng)
    write_jsonl(OUT / "instructions.jsonl", instructions)
    write_csv(OUT / "text2text.csv", text2text_rows(rng))
    write_jsonl(OUT / "preferences.jsonl", preference_rows(rng, instructions))
    for path in sorted(OUT.iterdir()):
        print(path)


if __name__ == "__main__":
    main()

"""A survey-like JSON in the GlobalOpinionQA layout, written by the tests (3 countries, 40
questions each), so that MLP tests need nothing outside the repository."""

import json

COUNTRIES = ["Aland", "Borduria", "Carpania"]
OPTIONS = [["Yes", "No"], ["Good", "Bad", "Neither"], ["Agree", "Disagree", "Unsure", "Refused"]]


def write_survey(path):
    """40 questions x 3 countries; each country prefers options in its own way, so that groups
    disagree and a policy has something to learn from the question and option text."""
    records, rid = [], 0
    for q in range(40):
        options = OPTIONS[q % 3]
        question = f"Question: Is topic {q} about {['trade', 'health', 'roads', 'art'][q % 4]}?\n" \
                   f"Options: {' '.join(f'{chr(65 + k)}. {o}' for k, o in enumerate(options))}\nAnswer:"
        for c, country in enumerate(COUNTRIES):
            n = len(options)
            favourite = (q + 2 * c) % n
            share = [0.5 / (n - 1)] * n
            share[favourite] = 0.5
            records.append({"question": question, "options": options, "attribute": country,
                            "gold_distribution": share, "pred_distribution": None, "id": rid})
            rid += 1
    path.write_text(json.dumps(records))

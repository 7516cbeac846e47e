"""How alike the frozen readings of different label texts are, per backbone.

LT-prefix and LT-prompt build each label's virtual tokens from the frozen backbone's last
hidden states of its label text (:func:`sklearn_ltuning.labels.encode_labels`). When two
labels' states are nearly parallel, their prefixes start out alike and the method is
close to prefix tuning with a label-aware head. This prints, for each backbone and label
set, the mean cosine between different labels' states:

* ``position 0``: the state at the first position (an encoder's ``[CLS]``; on a decoder
  whose tokenizer adds no BOS, the label text's first token, where a decoder keeps its
  attention sink);
* ``all positions``: the ``prefix_length`` states flattened (text plus "." padding), what
  the prefix map reads;

each read as the package reads it (``alone``), on a decoder after a lead token (BOS, or
EOS when the tokenizer has no BOS), and standardised by each hidden dimension's mean and
spread over the probe sentences: two candidate remedies, measured here only.

Usage::

    python -m benchmarks.label_states --backbones minilm-l6 smollm2-135m
"""

from __future__ import annotations

import argparse

import numpy as np

LABEL_SETS = {
    "SST-2": ["negative", "positive"],
    "SICK / SNLI": ["entailment", "neutral", "contradiction"],
    "RTE": ["entailment", "not entailment"],
}


def _mean_off_diagonal_cosine(vectors):
    import torch

    unit = torch.nn.functional.normalize(vectors.flatten(1).float(), dim=1)
    sims = (unit @ unit.T).numpy()
    return float(sims[~np.eye(len(sims), dtype=bool)].mean())


def label_state_cosines(backbone, texts, prefix_length=8):
    """Mean cosine between different labels' frozen states, read alone and after a lead.

    Returns
    -------
    cosines : dict
        ``{"alone": (position 0, all positions), "lead": (...) or None,
        "standardised": all positions}``.
    """
    import torch

    from sklearn_ltuning.backbones.loading import PROBE_TEXTS, load_backbone
    from sklearn_ltuning.labels import label_token_ids

    handle = load_backbone(backbone)
    ids = label_token_ids(handle.tokenizer, texts, prefix_length)
    tokenizer = handle.tokenizer
    lead = None
    if handle.shape.is_decoder:
        lead = next(
            (t for t in (tokenizer.bos_token_id, tokenizer.eos_token_id) if t is not None), None
        )

    def read(rows, skip):
        input_ids = torch.tensor(rows, dtype=torch.long)
        with torch.no_grad():
            hidden = handle.model(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids)
            ).last_hidden_state
        hidden = hidden[:, skip:]
        return (_mean_off_diagonal_cosine(hidden[:, 0]), _mean_off_diagonal_cosine(hidden))

    # The mean and spread of each hidden dimension over the probe sentences' tokens
    # (first positions left out): a label-set-free standardisation, the third reading.
    probe = tokenizer(list(PROBE_TEXTS), return_tensors="pt", padding=True)
    with torch.no_grad():
        states = handle.model(
            input_ids=probe["input_ids"], attention_mask=probe["attention_mask"]
        ).last_hidden_state
    keep = probe["attention_mask"].bool()
    keep[:, 0] = False
    mean, std = states[keep].mean(0), states[keep].std(0) + 1e-6
    input_ids = torch.tensor(ids, dtype=torch.long)
    with torch.no_grad():
        hidden = handle.model(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids)
        ).last_hidden_state
    return {
        "alone": read(ids, 0),
        "lead": None if lead is None else read([[lead, *row] for row in ids], 1),
        "standardised": _mean_off_diagonal_cosine((hidden - mean) / std),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["minilm-l6", "smollm2-135m"])
    parser.add_argument("--prefix-length", type=int, default=8)
    args = parser.parse_args(argv)
    print("| backbone | labels | alone: position 0 | alone: all positions |", end="")
    print(" after a lead token: position 0 | after a lead token: all positions |", end="")
    print(" standardised: all positions |")
    print("|---|---|---|---|---|---|---|")
    for backbone in args.backbones:
        for name, texts in LABEL_SETS.items():
            cos = label_state_cosines(backbone, texts, args.prefix_length)
            lead = cos["lead"]
            lead_cells = ["–", "–"] if lead is None else [f"{c:.4f}" for c in lead]
            cells = [f"{c:.4f}" for c in cos["alone"]] + lead_cells
            cells.append(f"{cos['standardised']:.4f}")
            print(f"| {backbone} | {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))

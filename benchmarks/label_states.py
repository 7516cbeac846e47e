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
    from sklearn_ltuning.labels import encode_labels, label_token_ids

    handle = load_backbone(backbone)
    tokenizer = handle.tokenizer

    def last_hidden(input_ids, attention_mask=None):
        input_ids = torch.as_tensor(input_ids, dtype=torch.long)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        with torch.no_grad():
            return handle.model(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state

    def cosines(hidden):
        return (_mean_off_diagonal_cosine(hidden[:, 0]), _mean_off_diagonal_cosine(hidden))

    # The package's own reading of the label texts (padded with "." to prefix_length).
    hidden = encode_labels(handle, list(texts), prefix_length)
    lead = None
    if handle.shape.is_decoder:
        lead = next(
            (t for t in (tokenizer.bos_token_id, tokenizer.eos_token_id) if t is not None), None
        )
    led = None
    if lead is not None:
        ids = label_token_ids(tokenizer, texts, prefix_length)
        led = cosines(last_hidden([[lead, *row] for row in ids])[:, 1:])
    # The mean and spread of each hidden dimension over the probe sentences' tokens
    # (first positions left out): a label-set-free standardisation, the third reading.
    probe = tokenizer(list(PROBE_TEXTS), return_tensors="pt", padding=True)
    states = last_hidden(probe["input_ids"], probe["attention_mask"])
    keep = probe["attention_mask"].bool()
    keep[:, 0] = False
    mean, std = states[keep].mean(0), states[keep].std(0) + 1e-6
    return {
        "alone": cosines(hidden),
        "lead": led,
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

#!/usr/bin/env python3
"""CLIP scorer for lorasweep's `command` objective (protocol version 1).

Scores one saved epoch of a trial:
  * CLIP-T: cosine similarity between each sample and its prompt (prompt following);
  * CLIP-I: cosine similarity between each sample and the reference images of its
    prompt index (likeness), when the scorer has `references:`.
The epoch's score is  t_weight * mean(CLIP-T) + i_weight * mean(CLIP-I)  over the
images that have each part, reported with range [0, 1] (cosines below 0 are clipped;
raw CLIP cosines sit around 0.15-0.40, so compare trials, not absolute values).

Spec:
  - kind: command
    run: [python, examples/scorers/clip_score.py]
    references: ./references          # optional, enables CLIP-I
    use_gpu: true                     # run on the trial's GPU lease (else CPU)
    timeout: 10m
    params: {model: ViT-B-32, pretrained: laion2b_s34b_b79k, t_weight: 0.5, i_weight: 0.5}

Protocol: the request JSON is at $LORASWEEP_SCORER_REQUEST; write the response JSON to
$LORASWEEP_SCORER_RESPONSE. Anything printed goes to lorasweep's error messages only
(its tail is shown when the scorer fails). Exit non-zero, or write {"error": "..."},
to make the epoch unscorable. See docs/objective.md.
"""
import json
import os
import sys


def main() -> int:
    with open(os.environ["LORASWEEP_SCORER_REQUEST"], encoding="utf-8") as f:
        req = json.load(f)
    params = req.get("params") or {}
    t_weight = float(params.get("t_weight", 0.5))
    i_weight = float(params.get("i_weight", 0.5))

    import torch  # imported late so protocol errors above show without torch installed
    import open_clip
    from PIL import Image

    device = "cuda" if req.get("gpus") and torch.cuda.is_available() else "cpu"
    model, _, preprocess = open_clip.create_model_and_transforms(
        params.get("model", "ViT-B-32"), pretrained=params.get("pretrained", "laion2b_s34b_b79k"), device=device)
    tokenizer = open_clip.get_tokenizer(params.get("model", "ViT-B-32"))
    model.eval()

    def embed_images(paths):
        out = []
        for i in range(0, len(paths), 16):
            batch = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths[i:i + 16]]).to(device)
            with torch.no_grad():
                e = model.encode_image(batch).float()
            out.append(e / e.norm(dim=-1, keepdim=True))
        return torch.cat(out) if out else torch.empty(0)

    images = req["images"]
    if not images:
        return respond({"error": "no images in request"})
    img_emb = embed_images([im["path"] for im in images])
    with torch.no_grad():
        txt = model.encode_text(tokenizer([im["prompt"] for im in images]).to(device)).float()
    txt = txt / txt.norm(dim=-1, keepdim=True)
    clip_t = (img_emb * txt).sum(-1).clamp(min=0).tolist()

    refs = req.get("references") or []
    ref_emb = embed_images([r["path"] for r in refs]) if refs else None
    per_image, t_vals, i_vals = [], [], []
    for k, im in enumerate(images):
        flags = [f"clip_t={clip_t[k]:.3f}"]
        score = clip_t[k]
        t_vals.append(clip_t[k])
        idx = [j for j, r in enumerate(refs) if r["prompt_index"] == im["prompt_index"]]
        if idx:
            ci = float((ref_emb[idx] @ img_emb[k]).clamp(min=0).max())
            i_vals.append(ci)
            flags.append(f"clip_i={ci:.3f}")
            score = (t_weight * clip_t[k] + i_weight * ci) / (t_weight + i_weight)
        per_image.append({"path": im["path"], "score": score, "flags": flags})

    mean = lambda v: sum(v) / len(v)
    parts = [(t_weight, mean(t_vals))] + ([(i_weight, mean(i_vals))] if i_vals else [])
    total = sum(w * v for w, v in parts) / sum(w for w, _ in parts)
    return respond({"score": total, "range": [0, 1], "images": per_image})


def respond(obj) -> int:
    with open(os.environ["LORASWEEP_SCORER_RESPONSE"], "w", encoding="utf-8") as f:
        json.dump(obj, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())

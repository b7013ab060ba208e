#!/usr/bin/python3
"""A TEST DOUBLE of kohya-ss sd-scripts' train_network.py. It never trains.

It exists only so lorasweep's runner tests exercise sd-scripts' interface
for real: argparse (genuine --help and exit status 2), reading --config_file
TOML with the `toml` package as sd-scripts does (sections flattened), the
tqdm progress bar with `\\r` updates on stderr, Rich log lines on stderr,
print() lines on stdout, sample images and .safetensors files named as
sd-scripts names them, the ss_* metadata it writes, and the logging
switches (--console_log_level, --console_log_file, --console_log_simple
hide or move logger lines, never print() or tqdm). It is not shipped
and must never be used as a trainer.

Behaviour switches (environment):
  STANDIN_MODE   ok (default) | oom | nan | crash_after_last_step |
                 crash_after_saved | hang | ignore_term |
                 crash_mid_sampling (dies after the first image of epoch 2)
  STANDIN_STEP_SECONDS  sleep per step (default 0.01)
  STANDIN_PIDFILE       write "pid" there at start (for kill tests)
  STANDIN_LATE_IMAGE    seconds: the last image of each sampling lands this
                        long after the trainer has moved on (next lines printed)
  STANDIN_IMAGE_SECONDS seconds: each image is written in two halves this far
                        apart, so a half-written PNG sits in the folder
  STANDIN_VAL_RISING    validation loss rises with every epoch (epoch 1 is best)
  STANDIN_PGIDFILE      write its process group id there at start
AdaFactor without relative_step=False switches to sd-scripts' adafactor
scheduler (ss_lr_scheduler "adafactor:<lr>"); save_last_n_epochs deletes old
checkpoints with sd-scripts' "removing old checkpoint:" line.
Switches for `lorasweep doctor`'s tests (see the DOCTOR block below):
  STANDIN_HIDE      comma list of console lines not printed: bar, epoch,
                    checkpoint, saved (the file is still written)
  STANDIN_SAMPLES   none (no images) | misnamed (not sd-scripts' names) |
                    broken (truncated PNGs)
  STANDIN_REJECT    an argument name argparse then rejects (exit 2) at run
                    time, though --help lists it
With no --max_train_epochs, --max_train_steps sets the length (as in sd-scripts).
With --validation_split > 0 it prints sd-scripts' per-epoch validation bar
(`epoch validation steps`, postfix val_epoch_avg_loss) and, as tqdm does,
re-draws the previous epoch's bar with its old value early in the next epoch.
"""
import argparse
import json
import logging
import os
import signal
import struct
import sys
import threading
import time
import zlib

import toml
from rich.logging import RichHandler
from tqdm import tqdm

logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[RichHandler(show_path=True)])
logger = logging.getLogger(__name__)

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")

# --- DOCTOR: behaviour switches for lorasweep doctor's tests ---
HIDE = set(filter(None, os.environ.get("STANDIN_HIDE", "").split(",")))
SAMPLES = os.environ.get("STANDIN_SAMPLES", "")


def sample_override(d, name, i, data):
    """Returns the (path, data) a sample is written as under STANDIN_SAMPLES,
    or None to write nothing."""
    if SAMPLES == "none":
        return None
    if SAMPLES == "misnamed":
        return os.path.join(d, f"sample_{i}.png"), data
    if SAMPLES == "broken":
        return os.path.join(d, name), data[: len(data) // 3]
    return os.path.join(d, name), data


def reject_args(parser):
    if os.environ.get("STANDIN_REJECT"):
        parser.error(f"argument --{os.environ['STANDIN_REJECT']}: invalid value")
# --- end DOCTOR ---


def setup_parser():
    p = argparse.ArgumentParser()
    p.add_argument("--console_log_level", type=str, default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
    p.add_argument("--console_log_file", type=str, default=None)
    p.add_argument("--console_log_simple", action="store_true")
    p.add_argument("--config_file", type=str, default=None)
    p.add_argument("--output_dir", type=str, default=None)
    p.add_argument("--output_name", type=str, default=None)
    p.add_argument("--logging_dir", type=str, default=None)
    p.add_argument("--train_data_dir", type=str, default=None)
    p.add_argument("--reg_data_dir", type=str, default=None)
    p.add_argument("--dataset_config", type=str, default=None)
    p.add_argument("--pretrained_model_name_or_path", type=str, default=None)
    p.add_argument("--vae", type=str, default=None)
    p.add_argument("--tokenizer_cache_dir", type=str, default=None)
    p.add_argument("--network_module", type=str, default=None)
    p.add_argument("--network_dim", type=int, default=None)
    p.add_argument("--network_alpha", type=float, default=1)
    p.add_argument("--network_args", type=str, default=None, nargs="*")
    p.add_argument("--network_dropout", type=float, default=None)
    p.add_argument("--learning_rate", type=float, default=2.0e-6)
    p.add_argument("--unet_lr", type=float, default=None)
    p.add_argument("--text_encoder_lr", type=float, default=None, nargs="*")
    p.add_argument("--lr_scheduler", type=str, default="constant")
    p.add_argument("--lr_scheduler_num_cycles", type=int, default=1)
    p.add_argument("--lr_scheduler_power", type=float, default=1)
    p.add_argument("--lr_warmup_steps", type=float, default=0)
    p.add_argument("--optimizer_type", type=str, default="")
    p.add_argument("--optimizer_args", type=str, default=None, nargs="*")
    p.add_argument("--train_batch_size", type=int, default=1)
    p.add_argument("--max_train_epochs", type=int, default=None)
    p.add_argument("--max_train_steps", type=int, default=1600)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--resolution", type=str, default=None)
    p.add_argument("--save_every_n_epochs", type=int, default=None)
    p.add_argument("--save_model_as", type=str, default="safetensors", choices=[None, "ckpt", "pt", "safetensors"])
    p.add_argument("--sample_prompts", type=str, default=None)
    p.add_argument("--sample_every_n_epochs", type=int, default=None)
    p.add_argument("--sample_every_n_steps", type=int, default=None)
    p.add_argument("--save_every_n_steps", type=int, default=None)
    p.add_argument("--save_last_n_epochs", type=int, default=None)
    p.add_argument("--validation_split", type=float, default=0.0)
    p.add_argument("--validation_seed", type=int, default=None)
    p.add_argument("--sample_sampler", type=str, default="ddim")
    p.add_argument("--sample_at_first", action="store_true")
    p.add_argument("--cache_latents", action="store_true")
    p.add_argument("--cache_latents_to_disk", action="store_true")
    p.add_argument("--mixed_precision", type=str, default="no", choices=["no", "fp16", "bf16"])
    p.add_argument("--scale_weight_norms", type=float, default=None)
    p.add_argument("--caption_extension", type=str, default=".caption")
    p.add_argument("--enable_bucket", action="store_true")
    return p


def setup_logging(args):
    # As sd-scripts' setup_logging(args, reset=True) at the start of
    # training: messages logged before it (Loading settings…) used the
    # import-time Rich handler at INFO; from here a file handler for
    # --console_log_file, a plain stdout one for --console_log_simple, else
    # Rich, and the root level --console_log_level (INFO when unset). print()
    # and tqdm are not logging and are never hidden.
    root = logging.getLogger()
    for h in root.handlers[:]:
        root.removeHandler(h)
    if args.console_log_file:
        handler = logging.FileHandler(args.console_log_file, mode="w")
    elif args.console_log_simple:
        handler = logging.StreamHandler(sys.stdout)
    else:
        handler = RichHandler(show_path=True)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.setLevel(getattr(logging, args.console_log_level or "INFO"))
    root.addHandler(handler)


def read_config(args, parser):
    # sd-scripts' read_config_from_file: flatten one level of sections, then
    # re-parse argv on top (TOML values keep their TOML types).
    if not args.config_file:
        return args
    path = args.config_file if args.config_file.endswith(".toml") else args.config_file + ".toml"
    if not os.path.exists(path):
        logger.info(f"{path} not found.")
        sys.exit(1)
    logger.info(f"Loading settings from {path}...")
    with open(path, "r", encoding="utf-8") as f:
        config = toml.load(f)
    flat = {}
    for k, v in config.items():
        if isinstance(v, dict):
            flat.update(v)
        else:
            flat[k] = v
    ns = argparse.Namespace(**flat)
    args = parser.parse_args(namespace=ns)
    return args


def images_of(root):
    out = []
    if not root or not os.path.isdir(root):
        return out
    for sub in sorted(os.listdir(root)):
        d = os.path.join(root, sub)
        if not os.path.isdir(d):
            continue
        head = sub.split("_")[0]
        try:
            repeats = int(head)
        except ValueError:
            logger.warning(f"ignore directory without repeats / 繰り返し回数のないディレクトリを無視します: {sub}")
            continue
        for f in sorted(os.listdir(d)):
            if f.lower().endswith(IMAGE_EXTS):
                out.append((os.path.join(d, f), repeats))
    return out


def images_of_config(path):
    # --dataset_config: [[datasets]] [[datasets.subsets]] image_dir, num_repeats
    with open(path, encoding="utf-8") as f:
        config = toml.load(f)
    out = []
    for ds in config.get("datasets", []):
        for sub in ds.get("subsets", []):
            d = sub["image_dir"]
            for f in sorted(os.listdir(d)):
                if f.lower().endswith(IMAGE_EXTS):
                    out.append((os.path.join(d, f), int(sub.get("num_repeats", 1))))
    return out


def write_safetensors(path, metadata):
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    header["lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"] = {"dtype": "F32", "shape": [1, 1], "data_offsets": [0, 4]}
    h = json.dumps(header).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        f.write(struct.pack("<f", 0.5))


def read_prompts(path):
    prompts = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            seed = None
            for part in line.split(" --")[1:]:
                if part.lower().startswith("d "):
                    seed = int(part[2:].strip())
            prompts.append(seed)
    return prompts


def png_bytes(w, h, seed):
    """A real, decodable RGB PNG whose pattern depends on seed."""
    rows = []
    for y in range(h):
        row = bytearray(b"\x00")
        for x in range(w):
            row += bytes(((x * 8 + seed * 37) % 256, (y * 8 + seed * 11) % 256, ((x + y) * 4 + seed) % 256))
        rows.append(bytes(row))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def write_image(path, data, half_pause):
    with open(path, "wb") as f:
        if half_pause > 0:
            f.write(data[: len(data) // 2])
            f.flush()
            time.sleep(half_pause)
            f.write(data[len(data) // 2:])
        else:
            f.write(data)


late_writers = []


def sample_images(args, epoch, stamp, step=None, crash_after_first=False):
    if not args.sample_prompts:
        return
    if not os.path.exists(args.sample_prompts):
        logger.error(f"No prompt file / プロンプトファイルがありません: {args.sample_prompts}")
        return
    logger.info(f"generating sample images at step / サンプル画像生成 ステップ: {epoch if step is None else step}")
    d = os.path.join(args.output_dir, "sample")
    os.makedirs(d, exist_ok=True)
    prefix = (args.output_name + "_") if args.output_name else ""
    late = float(os.environ.get("STANDIN_LATE_IMAGE", "0"))
    half = float(os.environ.get("STANDIN_IMAGE_SECONDS", "0"))
    prompts = read_prompts(args.sample_prompts)
    for i, seed in enumerate(prompts):
        at = f"e{epoch:06d}" if step is None else f"{step:06d}"
        name = f"{prefix}{at}_{i:02d}_{stamp}" + (f"_{seed}" if seed is not None else "") + ".png"
        data = png_bytes(32, 32, (seed or 0) + epoch * 101 + i)
        over = sample_override(d, name, i, data)
        if over is None:
            continue
        path, data = over
        if late > 0 and i == len(prompts) - 1:
            def land(path=path, data=data):
                time.sleep(late)
                write_image(path, data, half)
            t = threading.Thread(target=land)
            t.start()
            late_writers.append(t)
            continue
        write_image(path, data, half)
        if crash_after_first:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")


def main():
    parser = setup_parser()
    args = parser.parse_args()
    args = read_config(args, parser)
    setup_logging(args)
    reject_args(parser)
    mode = os.environ.get("STANDIN_MODE", "ok")
    step_s = float(os.environ.get("STANDIN_STEP_SECONDS", "0.01"))
    if os.environ.get("STANDIN_PIDFILE"):
        with open(os.environ["STANDIN_PIDFILE"], "w") as f:
            f.write(str(os.getpid()))
    if os.environ.get("STANDIN_PGIDFILE"):
        with open(os.environ["STANDIN_PGIDFILE"], "w") as f:
            f.write(str(os.getpgrp()))
    if mode == "ignore_term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    if args.tokenizer_cache_dir:
        # strategy_base._load_tokenizer: <dir>/<model id with _ for />, read
        # relative to the working directory; else the Hub, which this
        # offline double cannot reach
        local = os.path.join(args.tokenizer_cache_dir, "openai_clip-vit-large-patch14")
        if not os.path.exists(local):
            raise OSError(f"We couldn't connect to 'https://huggingface.co' to load the files of openai/clip-vit-large-patch14, and {local} does not exist")
        logger.info(f"load tokenizer from cache: {local}")
    print(f"import network module: {args.network_module}")
    images = images_of_config(args.dataset_config) if args.dataset_config else images_of(args.train_data_dir)
    if not images:
        logger.error("No data found. Please verify arguments (train_data_dir must be the parent of folders with images) / 画像がありません。引数指定を確認してください")
        return
    if args.cache_latents_to_disk:
        for img, _ in images:
            with open(os.path.splitext(img)[0] + ".npz", "w") as f:
                f.write(str(args.resolution))
    if mode == "oom":
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 6.00 GiB total capacity; 5.24 GiB already allocated; 0 bytes free)")
    print("prepare optimizer, data loader etc.")
    logger.info(f"use AdamW optimizer | {{}}")
    n = sum(r for _, r in images)
    batches = (n + args.train_batch_size - 1) // args.train_batch_size
    if args.max_train_epochs:
        epochs = args.max_train_epochs
        total = batches * epochs
    else:
        total = args.max_train_steps
        epochs = (total + batches - 1) // batches
    print("running training / 学習開始")
    print(f"  num train images * repeats / 学習画像の数×繰り返し回数: {n}")
    print(f"  num batches per epoch / 1epochのバッチ数: {batches}")
    print(f"  num epochs / epoch数: {epochs}")
    print(f"  total optimization steps / 学習ステップ数: {total}")
    stamp = time.strftime("%Y%m%d%H%M%S")
    os.makedirs(args.output_dir, exist_ok=True)
    name = args.output_name or "last"
    meta = {
        "ss_output_name": args.output_name,
        "ss_network_dim": args.network_dim if args.network_dim is not None else 4,
        "ss_network_alpha": args.network_alpha,
        "ss_learning_rate": args.learning_rate,
        "ss_unet_lr": args.unet_lr,
        "ss_text_encoder_lr": (args.text_encoder_lr[0] if isinstance(args.text_encoder_lr, list) and args.text_encoder_lr else args.text_encoder_lr),
        "ss_lr_scheduler": args.lr_scheduler,
        "ss_seed": args.seed if args.seed is not None else 12345,
        "ss_num_epochs": epochs,
        "ss_max_train_steps": total,
    }
    opt_args = {a.split("=", 1)[0].lower(): a.split("=", 1)[1] for a in (args.optimizer_args or []) if "=" in a}
    if args.optimizer_type.lower() == "adafactor" and opt_args.get("relative_step", "True") != "False":
        # AdaFactor's relative step: sd-scripts trains with its own
        # scheduler whatever lr_scheduler says, and records that.
        logger.info("use adafactor_scheduler / スケジューラにadafactor_schedulerを使用します")
        meta["ss_lr_scheduler"] = f"adafactor:{args.learning_rate}"
    if os.environ.get("STANDIN_WRONG_DIM"):
        meta["ss_network_dim"] = int(os.environ["STANDIN_WRONG_DIM"])
    bar = tqdm(range(total), smoothing=0, desc="steps", disable="bar" in HIDE)
    step = 0
    loss = 0.2
    val_bar = None
    for epoch in range(epochs):
        if "epoch" not in HIDE:
            print(f"\nepoch {epoch + 1}/{epochs}\n")
        for b in range(batches):
            if step >= total:
                break
            time.sleep(step_s)
            step += 1
            loss *= 0.97
            if mode == "nan" and step >= 2:
                loss = float("nan")
            if mode == "hang" and step == 2:
                time.sleep(3600)
            bar.update(1)
            bar.set_postfix({"avr_loss": loss})
            if b == 0 and val_bar is not None:
                # tqdm re-draws the previous epoch's validation bar, old
                # value and all, once the next epoch is under way.
                val_bar.refresh()
            if args.sample_every_n_steps and step % args.sample_every_n_steps == 0:
                sample_images(args, epoch + 1, stamp, step=step)
            if args.save_every_n_steps and step % args.save_every_n_steps == 0:
                ck = os.path.join(args.output_dir, f"{name}-step{step:08d}.{args.save_model_as}")
                if "checkpoint" not in HIDE:
                    print(f"\nsaving checkpoint: {ck}")
                write_safetensors(ck, dict(meta, ss_steps=step))
        e = epoch + 1
        if args.validation_split and args.validation_split > 0:
            val_steps = 2
            val_bar = tqdm(range(val_steps), smoothing=0, desc="epoch validation steps", position=1)
            for v in range(val_steps):
                val_bar.update(1)
                val = 0.15 * (0.8 ** e) + 0.001 * v
                if os.environ.get("STANDIN_VAL_RISING"):
                    val = 0.05 * (1.25 ** e) + 0.001 * v  # over-training from the first epoch on
                val_bar.set_postfix({"val_epoch_avg_loss": val, "timestep": 500})
        if args.sample_every_n_epochs and e % args.sample_every_n_epochs == 0:
            sample_images(args, e, stamp, crash_after_first=(mode == "crash_mid_sampling" and e == 2))
        if args.save_every_n_epochs and e % args.save_every_n_epochs == 0 and e < epochs:
            ck = os.path.join(args.output_dir, f"{name}-{e:06d}.{args.save_model_as}")
            print(f"\nsaving checkpoint: {ck}")
            write_safetensors(ck, dict(meta, ss_epoch=e))
            if args.save_last_n_epochs:
                # sd-scripts' save_last_n_epochs: keep the newest n epoch
                # checkpoints, deleting the one n epochs back.
                old = e - args.save_every_n_epochs * args.save_last_n_epochs
                old_ck = os.path.join(args.output_dir, f"{name}-{old:06d}.{args.save_model_as}")
                if old > 0 and os.path.exists(old_ck):
                    print(f"removing old checkpoint: {old_ck}")
                    os.remove(old_ck)
    bar.close()
    if mode == "crash_after_last_step":
        raise RuntimeError("CUDA error: an illegal memory access was encountered")
    final = os.path.join(args.output_dir, f"{name}.{args.save_model_as}")
    write_safetensors(final, dict(meta, ss_epoch=epochs))
    if "saved" not in HIDE:
        logger.info("model saved.")
    for t in late_writers:
        t.join()
    if mode == "crash_after_saved":
        sys.stdout.flush()
        os._exit(134)


if __name__ == "__main__":
    main()

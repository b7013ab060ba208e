# Writes lorasweep's own console-log fixtures in the layouts users' bug
# reports show (written for lorasweep, not copied from any report):
#   /usr/bin/python3 gen_layouts.py kohya/testdata/logs
# It reuses the prelude of success.log; the Rich box comes from real rich
# (Debian python3-rich), drawn for a file named like sd-scripts'.
import io, logging, sys, os
from rich.console import Console
from rich.logging import RichHandler

out = sys.argv[1]
prelude = open(os.path.join(out, "success.log"), encoding="utf-8", newline="").read().split("\r", 1)[0]

def bar(step, total, loss):
    pct = int(step * 100 / total)
    fill = "█" * (step * 10 // total)
    return f"\rsteps: {pct:3d}%|{fill:<10}| {step}/{total} [00:{step:02d}<00:{total-step:02d},  1.23it/s, avr_loss={loss}]"

def epoch_block(e, epochs, total, start_step, per, loss0):
    s = f"\r\nepoch {e}/{epochs}\n"
    loss = loss0
    for i in range(per):
        loss = round(loss * 0.97, 4)
        s += bar(start_step + i + 1, total, loss)
    return s, loss

def write(name, text):
    with open(os.path.join(out, name), "w", encoding="utf-8", newline="") as f:
        f.write(text)

def train_until(epochs_done, ckpt=True, name="trial-0001"):
    s = prelude + "\rsteps:   0%|          | 0/12 [00:00<00:12,  ?it/s]\n"
    loss = 0.125
    for e in range(1, epochs_done + 1):
        b, loss = epoch_block(e, 3, 12, (e - 1) * 4, 4, loss)
        s += b
        if ckpt and e < 3:
            s += f"\n\nsaving checkpoint: /runs/t1/out/{name}-{e:06d}.safetensors\n\n"
    return s, loss

# 1. a plain traceback mid-training, with an exception chain
s, _ = train_until(1)
s += ("\nTraceback (most recent call last):\n"
      '  File "/sd-scripts/library/train_util.py", line 1210, in __getitem__\n'
      "    caption = self.captions[image_key]\n"
      "KeyError: 'img_0042'\n\n"
      "During handling of the above exception, another exception occurred:\n\n"
      "Traceback (most recent call last):\n"
      '  File "/sd-scripts/train_network.py", line 1750, in <module>\n'
      "    trainer.train(args)\n"
      '  File "/sd-scripts/train_network.py", line 1405, in train\n'
      "    for step, batch in enumerate(train_dataloader):\n"
      "RuntimeError: caption lookup failed for img_0042\n")
write("plain_traceback_chained.log", s)

# 2. a Rich-boxed traceback from rich's logging handler (logger.exception)
s, _ = train_until(2)
buf = io.StringIO()
con = Console(file=buf, width=110, force_terminal=False, color_system=None, log_time=False)
log = logging.getLogger("train_network")
log.handlers[:] = [RichHandler(console=con, rich_tracebacks=True, show_time=False)]
log.propagate = False
# the failing code lives in a file named like sd-scripts' so the frames read
# as they would in a user's log
src_dir = "/tmp/sd-scripts"
os.makedirs(src_dir, exist_ok=True)
with open(os.path.join(src_dir, "train_network.py"), "w") as f:
    f.write(
        "def scale_loss(loss, accum):\n"
        "    return loss / accum\n"
        "\n"
        "\n"
        "def train_step(log, accum):\n"
        "    # an except clause that mentions CUDA out of memory must not make this an OOM\n"
        "    try:\n"
        "        return scale_loss(0.1, accum)\n"
        "    except MemoryError:\n"
        "        raise RuntimeError(\"CUDA out of memory while scaling the loss\")\n"
        "\n"
        "\n"
        "def train(log):\n"
        "    try:\n"
        "        train_step(log, 0)\n"
        "    except Exception:\n"
        "        log.exception(\"training step failed\")\n"
    )
sys.path.insert(0, src_dir)
import train_network
train_network.train(log)
s += "\n" + buf.getvalue()
write("rich_traceback.log", s)

# 3. a traceback glued onto the last progress bar (written after \r, no newline)
s, _ = train_until(1)
s += "\r\nepoch 2/3\n" + bar(5, 12, 0.148)
s += ("Traceback (most recent call last):\n"
      '  File "/sd-scripts/train_network.py", line 1480, in train\n'
      "    loss = loss / (batch_size * 0)\n"
      "ZeroDivisionError: float division by zero\n")
write("glued_traceback.log", s)

# 4. accelerate's wrapper when the trainer was killed by a signal and
#    printed nothing itself (the kernel's OOM killer)
s, _ = train_until(1)
s += ("Traceback (most recent call last):\n"
      '  File "/venv/bin/accelerate", line 8, in <module>\n'
      "    sys.exit(main())\n"
      '  File "/venv/lib/python3.10/site-packages/accelerate/commands/launch.py", line 778, in simple_launcher\n'
      "    raise subprocess.CalledProcessError(returncode=process.returncode, cmd=cmd)\n"
      "subprocess.CalledProcessError: Command '['/venv/bin/python', 'train_network.py', '--config_file', '/runs/t1/trial.toml']' died with <Signals.SIGKILL: 9>.\n")
write("accelerate_child_killed.log", s)

# 5. the final model is saved, then an upload at teardown fails (exit 1)
s, _ = train_until(3)
s += ("\n\nsaving checkpoint: /runs/t1/out/trial-0001.safetensors\n"
      "                    INFO     model saved.                                                train_network.py:1729\n"
      "Traceback (most recent call last):\n"
      '  File "/sd-scripts/library/huggingface_util.py", line 60, in upload\n'
      "    api.upload_file(path_or_fileobj=src, path_in_repo=dst, repo_id=repo_id)\n"
      "huggingface_hub.errors.HfHubHTTPError: 401 Client Error: Unauthorized for url: https://huggingface.co/api/repos/create\n")
write("saved_then_upload_crash.log", s)

# 6. console_log_level = "WARNING": no INFO line at all, `model saved.`
#    included; print() lines (epochs, checkpoints, the final save) remain
s, _ = train_until(3)
s = "\n".join(l for l in s.split("\n") if " INFO " not in l)
s += "\n\nsaving checkpoint: /runs/t1/out/trial-0001.safetensors\n"
write("log_level_warning.log", s)

# 7. an excerpt that ends in an exception whose traceback header was cut off
#    (pasted from the middle of a console)
s, _ = train_until(1)
s = s[s.index("\r\nepoch 1/3"):]
s += ('  File "/sd-scripts/library/train_util.py", line 2950, in load_image\n'
      "    image = Image.open(image_path)\n"
      "OSError: [Errno 5] Input/output error: '/data/train/10_toy/img_0042.png'\n")
write("excerpt_ends_in_exception.log", s)

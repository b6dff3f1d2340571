"""`recsys-tf text embed`: pooled, L2-normalised backbone embeddings of text lines."""
from __future__ import annotations

from pathlib import Path

from recsys_tf.cli.main import add_strict_text, stderr_log
from recsys_tf.constants import POOLINGS


def register(subparsers) -> None:
    text = subparsers.add_parser("text", help="text tower utilities")
    sub = text.add_subparsers(dest="text_command", required=True)
    embed = sub.add_parser("embed", help="embed one text per input line into a float32 .npy (n, d)")
    embed.add_argument("--preset", default="minilm-l6")
    embed.add_argument("--input", required=True, help="UTF-8 text file, one text per line")
    embed.add_argument("--output", required=True, help=".npy file to write")
    embed.add_argument("--pooling", choices=POOLINGS, default="mean")
    embed.add_argument("--sequence-length", type=int, default=64)
    embed.add_argument("--batch-size", type=int, default=256)
    add_strict_text(embed, "the lines")
    embed.set_defaults(func=cmd_embed)


def cmd_embed(args) -> int:
    import numpy as np

    from recsys_tf.atomic import atomic_write
    from recsys_tf.cli.main import UserError

    source, output = Path(args.input), Path(args.output)
    if output.is_dir():
        raise UserError(f"--output {str(output)!r} is a directory. Fix: name the .npy file to write, e.g. "
                        f"--output {output / 'embeddings.npy'}")
    if not source.is_file():
        raise UserError(f"--input {str(source)!r} is not a file. Fix: pass a UTF-8 text file, one text per line.")
    try:
        lines = source.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as err:
        raise UserError(f"--input {source} is not valid UTF-8 ({err}). Fix: re-save it as UTF-8.") from err
    if lines and lines[-1] == "":
        lines.pop()  # the final newline does not start another text
    lines = [line.rstrip("\r") for line in lines]
    if not lines:
        raise UserError(f"--input {source} holds no text. Fix: one text per line.")

    from recsys_tf.text.coverage import check_text_coverage
    from recsys_tf.text.embedding_cache import encode_texts
    from recsys_tf.text.text_encoder import TextEncoder

    encoder = TextEncoder.from_preset(args.preset, sequence_length=args.sequence_length, pooling=args.pooling)
    check_text_coverage(encoder, {f"the lines of {source}": lines}, strict=args.strict_text, log=stderr_log)
    vectors = encode_texts(encoder, lines, batch_size=args.batch_size, progress=len(lines) > args.batch_size)
    def write(tmp):
        with open(tmp, "wb") as handle:  # a handle: `np.save` appends ".npy" to a name without it
            np.save(handle, vectors.astype(np.float32))

    atomic_write(output, write)
    print(f"wrote {output}: {vectors.shape[0]} x {vectors.shape[1]} float32 ({args.preset}, "
          f"{args.pooling} pooling, sequence length {args.sequence_length})")
    return 0

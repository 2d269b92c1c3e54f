"""``astraguard-train models``: list, verify and sign saved bundles.

``models list DIR`` shows the versions and their metrics, ``models verify BUNDLE`` checks one
bundle (checksums, shape, and the signature with a key) without loading it, and ``models
keygen FILE`` writes the Ed25519 key pair that signs bundles.
"""

from __future__ import annotations

import argparse

from . import EXIT_FAILED, EXIT_OK, command, emit_json
from .score import add_trust_args

#: Metrics shown in the table (all of them go into --json).
SHOWN_METRICS = ("f1", "precision", "recall", "roc_auc", "pr_auc", "flagged_share")


@command("models", "list, verify and sign saved model bundles: models list DIR")
def _models_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    lst = sub.add_parser("list", help="list every version under DIR with its metrics")
    lst.add_argument("directory", help="an output directory, or one bundle's OUTPUT/NAME")
    lst.add_argument("--verify", action="store_true",
                     help="check every file's SHA-256 (slower), and signatures with a key; a "
                          "damaged bundle exits 1")
    lst.add_argument("--json", action="store_true", help="print a JSON list")
    add_trust_args(lst, trusted=False)
    ver = sub.add_parser("verify", help="check a bundle's files and signature without loading it")
    ver.add_argument("bundle", help="a bundle: OUTPUT/NAME (uses 'latest') or a version directory")
    add_trust_args(ver, trusted=False)
    gen = sub.add_parser("keygen", help="write an Ed25519 key pair for signing bundles")
    gen.add_argument("file", help="the private key file to create (mode 0600); the public key "
                                  "goes to FILE.pub")


@_models_args.handler
def cmd_models(args: argparse.Namespace) -> int:
    if args.models_command == "keygen":
        return _keygen(args)
    if args.models_command == "verify":
        return _verify(args)
    return _list(args)


def _keygen(args: argparse.Namespace) -> int:
    from ..bundle.signing import SIGNING_KEY_ENV, VERIFY_KEY_ENV, generate_keys

    private, public = generate_keys(args.file)
    print(f"private key: {private} (sign with [persist] signing_key or {SIGNING_KEY_ENV})")
    print(f"public key:  {public} (verify with --key or {VERIFY_KEY_ENV})")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from ..bundle.signing import SIGNATURE_FILE, VERIFY_KEY_ENV, key_id
    from ..bundle.store import resolve, verification_key, verify

    key = verification_key(args.key)
    path = resolve(args.bundle)
    verify(path, key)
    if key is not None:
        print(f"{path}: intact, signed with key {key_id(key)}")
    elif (path / SIGNATURE_FILE).is_file():
        print(f"{path}: intact; signed, but the signature was not checked: pass --key FILE "
              f"(or set {VERIFY_KEY_ENV})")
    else:
        print(f"{path}: intact; not signed")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from ..bundle.store import list_bundles

    infos = list_bundles(args.directory, check=args.verify, key=args.key)
    damaged = any(i.error for i in infos)
    if args.json:
        emit_json([i.to_dict() for i in infos])
        return EXIT_FAILED if damaged else EXIT_OK
    if not infos:
        print(f"no bundles under {args.directory}")
        return EXIT_OK
    for i in infos:
        mark = "*" if i.latest else " "
        shown = [f"{k}={i.metrics[k]:.4g}" for k in SHOWN_METRICS
                 if isinstance(i.metrics.get(k), (int, float))]
        state = f"DAMAGED: {i.error}" if i.error else " ".join(shown) or "(no metrics)"
        created = (i.created or "?")[:19]
        print(f"{mark} {i.name}/{i.version:<4} {created:<19} {i.model or '?':<14} {state}")
    print("(* = latest)")
    return EXIT_FAILED if damaged else EXIT_OK

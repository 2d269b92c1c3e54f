"""``astraguard-train models``: list, verify and sign saved bundles.

``models list DIR`` shows the versions and their metrics, ``models verify BUNDLE`` checks one
bundle (checksums, shape, and the signature with a key) without loading it, and ``models
keygen FILE`` writes the Ed25519 key pair that signs bundles.
"""

from __future__ import annotations

import click

from . import EXIT_FAILED, EXIT_OK, Group, debug_option, emit_json, subcommand
from .score import trust_options

#: Metrics shown in the table (all of them go into --json).
SHOWN_METRICS = ("f1", "precision", "recall", "roc_auc", "pr_auc", "flagged_share")


@click.group(
    "models", cls=Group, help="List, verify and sign saved model bundles: models list DIR.",
    epilog="\b\nExample:\n  astraguard-train models list models --verify\n"
    "  astraguard-train models verify models/detector --key signing.pub",
)
@debug_option
def command() -> None:
    pass


@command.add_command
@subcommand(
    "list",
    "List every version under DIRECTORY with its metrics.\n\n"
    "DIRECTORY is an output directory, or one bundle's OUTPUT/NAME.",
    "astraguard-train models list models\nastraguard-train models list models/detector --json",
)
@click.argument("directory")
@click.option("--verify", is_flag=True,
              help="Check every file's SHA-256 (slower), and signatures with a key; a damaged "
              "bundle exits 1.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@trust_options(trusted=False)
def list_command(directory: str, verify: bool, as_json: bool, key: str | None) -> int:
    from ..bundle.store import list_bundles

    infos = list_bundles(directory, check=verify, key=key)
    damaged = any(i.error for i in infos)
    if as_json:
        emit_json([i.to_dict() for i in infos])
        return EXIT_FAILED if damaged else EXIT_OK
    if not infos:
        print(f"no bundles under {directory}")
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


@command.add_command
@subcommand(
    "verify",
    "Check a bundle's files and signature without loading it.\n\n"
    "BUNDLE is OUTPUT/NAME (uses 'latest') or a version directory.",
    "astraguard-train models verify models/detector --key signing.pub",
)
@click.argument("bundle")
@trust_options(trusted=False)
def verify_command(bundle: str, key: str | None) -> int:
    from ..bundle.signing import SIGNATURE_FILE, VERIFY_KEY_ENV, key_id
    from ..bundle.store import resolve, verification_key, verify

    public = verification_key(key)
    path = resolve(bundle)
    verify(path, public)
    if public is not None:
        print(f"{path}: intact, signed with key {key_id(public)}")
    elif (path / SIGNATURE_FILE).is_file():
        print(f"{path}: intact; signed, but the signature was not checked: pass --key FILE "
              f"(or set {VERIFY_KEY_ENV})")
    else:
        print(f"{path}: intact; not signed")
    return EXIT_OK


@command.add_command
@subcommand(
    "keygen",
    "Write an Ed25519 key pair for signing bundles.\n\n"
    "FILE is the private key file to create (mode 0600); the public key goes to FILE.pub.",
    "astraguard-train models keygen signing.key",
)
@click.argument("file")
def keygen_command(file: str) -> int:
    from ..bundle.signing import SIGNING_KEY_ENV, VERIFY_KEY_ENV, generate_keys

    private, public = generate_keys(file)
    print(f"private key: {private} (sign with [persist] signing_key or {SIGNING_KEY_ENV})")
    print(f"public key:  {public} (verify with --key or {VERIFY_KEY_ENV})")
    return EXIT_OK

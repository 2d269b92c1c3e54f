"""``astraguard-train models``: list, inspect, promote, verify and sign saved bundles.

``models list DIR`` shows the versions, the champion and each one's key metric, ``models show
BUNDLE`` one version's manifest summary and metrics, ``models diff A B`` what changed between two
versions, ``models promote DIR/NAME VERSION`` marks the champion (see
:mod:`astraguard_train.bundle.registry`), ``models verify BUNDLE`` checks one bundle (checksums,
shape, and the signature with a key) without loading it, and ``models keygen FILE`` writes the
Ed25519 key pair that signs bundles.
"""

from __future__ import annotations

import click

from . import (
    EXIT_FAILED,
    EXIT_OK,
    Group,
    debug_option,
    emit_json,
    format_metrics,
    json_option,
    subcommand,
)
from .score import trust_options

#: Metrics shown in the table (all of them go into --json).
SHOWN_METRICS = ("f1", "precision", "recall", "roc_auc", "pr_auc", "flagged_share")


@click.group(
    "models", cls=Group,
    help="List, inspect, promote, verify and sign saved model bundles: models list DIR.",
    epilog="\b\nExample:\n  astraguard-train models list models --verify\n"
    "  astraguard-train models promote models/detector 3 --reason 'best event F1'\n"
    "  astraguard-train models verify models/detector --key signing.pub",
)
@debug_option
def command() -> None:
    pass


@command.add_command
@subcommand(
    "list",
    "List every version under DIRECTORY with its key metric and the champion.\n\n"
    "DIRECTORY is an output directory, or one bundle's OUTPUT/NAME. The key metric is event "
    "F1 where the test part had labelled events in time (channel telemetry), else ROC AUC, "
    "else F1.",
    "astraguard-train models list models\nastraguard-train models list models/detector --json",
)
@click.argument("directory")
@click.option("--verify", is_flag=True,
              help="Check every file's SHA-256 (slower), and signatures with a key; a damaged "
              "bundle exits 1.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@trust_options(trusted=False)
def list_command(directory: str, verify: bool, as_json: bool, key: str | None) -> int:
    from ..bundle.registry import key_metric
    from ..bundle.store import list_bundles

    infos = list_bundles(directory, check=verify, key=key)
    damaged = any(i.error for i in infos)
    keys = [key_metric(i.metrics) for i in infos]
    if as_json:
        emit_json([
            {**i.to_dict(), "key_metric": k and {"name": k[0], "value": k[1]}}
            for i, k in zip(infos, keys, strict=True)
        ])
        return EXIT_FAILED if damaged else EXIT_OK
    if not infos:
        print(f"no bundles under {directory}")
        return EXIT_OK
    for i, k in zip(infos, keys, strict=True):
        mark = ("C" if i.champion else " ") + ("*" if i.latest else " ")
        shown = [f"{name}={i.metrics[name]:.4g}" for name in SHOWN_METRICS
                 if isinstance(i.metrics.get(name), (int, float)) and (k is None or name != k[0])]
        first = [f"{k[0]}={k[1]:.4g}"] if k else []
        state = f"DAMAGED: {i.error}" if i.error else " ".join(first + shown) or "(no metrics)"
        created = (i.created or "?")[:19]
        print(f"{mark} {i.name}/{i.version:<4} {created:<19} {i.model or '?':<14} {state}")
    print("(C = champion, * = latest; the first metric is the key one)")
    return EXIT_FAILED if damaged else EXIT_OK


@command.add_command
@subcommand(
    "show",
    "Print one version's manifest summary and metrics.\n\n"
    "BUNDLE is OUTPUT/NAME (its champion, else its newest version) or a version directory.",
    "astraguard-train models show models/detector\n"
    "astraguard-train models show models/detector/2 --json",
)
@click.argument("bundle")
@json_option
def show_command(bundle: str, as_json: bool) -> int:
    from ..bundle.registry import describe

    info = describe(bundle)
    if as_json:
        emit_json(info)
        return EXIT_OK
    marks = [m for m in ("champion", "latest") if info[m]]
    print(f"bundle:     {info['path']} ({', '.join(marks) or 'not champion, not latest'}; "
          f"chosen as {info['selected']})")
    print(f"created:    {info['created']} by astraguard-train "
          f"{info['astraguard_train_version']}")
    for key, line in info["plugins"].items():
        print(f"plugin:     {key:<12} {line}")
    groups = f", {info['groups']} {info['group_by']} group(s)" if info["group_by"] else ""
    print(f"features:   {info['input_features']} in{groups}")
    print(f"threshold:  {info['threshold']:.6g} ({info['threshold_method']})")
    data = info["training_data"] or {}
    print(f"training:   {data.get('rows', '?')} rows, sha256 {str(data.get('sha256'))[:16]}")
    k = info["key_metric"]
    print(f"key metric: {k['name']} = {k['value']:.4f}" if k else "key metric: (none)")
    print("metrics:")
    print(format_metrics(info["metrics"]))
    return EXIT_OK


@command.add_command
@subcommand(
    "diff",
    "Show what changed from version A to version B: config, plugins, training data and "
    "metrics.\n\nA and B are version directories or OUTPUT/NAME (its champion, else newest).",
    "astraguard-train models diff models/detector/1 models/detector/2\n"
    "astraguard-train models diff models/detector/1 models/detector --json",
)
@click.argument("a")
@click.argument("b")
@json_option
def diff_command(a: str, b: str, as_json: bool) -> int:
    from ..bundle.registry import diff

    d = diff(a, b)
    if as_json:
        emit_json(d)
        return EXIT_OK
    print(f"a: {d['a']}\nb: {d['b']}")
    if d["same_model"]:
        print("same config and training data")
    for section in ("config", "plugins"):
        print(f"{section}:" + ("" if d[section] else " unchanged"))
        for c in d[section]:
            print(f"  {c['key']}: {c['a']!r} -> {c['b']!r}")
    data = d["training_data"]
    if data["same"]:
        print("training data: unchanged")
    else:
        print("training data: changed")
        for side in ("a", "b"):
            fp = data[side] or {}
            print(f"  {side}: {fp.get('rows', '?')} rows, sha256 {str(fp.get('sha256'))[:16]}")
    print("metrics:")
    for m in d["metrics"]:
        change = f" ({m['change']:+.4g})" if m["change"] is not None else ""
        print(f"  {m['key']}: {_shown(m['a'])} -> {_shown(m['b'])}{change}")
    return EXIT_OK


def _shown(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@command.add_command
@subcommand(
    "promote",
    "Mark VERSION the champion of the store STORE (OUTPUT/NAME).\n\n"
    "The version must verify. From then on STORE resolves to it (score, drift, load_bundle) "
    "until another is promoted; each promotion is logged in STORE/promotions.jsonl.",
    "astraguard-train models promote models/detector 3 --reason 'best event F1 on May data'",
)
@click.argument("store")
@click.argument("version", type=int)
@click.option("--reason", default="", help="Why: kept in the promotion log.")
@trust_options(trusted=False)
def promote_command(store: str, version: int, reason: str, key: str | None) -> int:
    from ..bundle.registry import promote

    record = promote(store, version, reason=reason, key=key)
    was = f"was {record.previous}" if record.previous is not None else "none before"
    print(f"{store}: version {record.version} is the champion ({was}); "
          f"promoted by {record.by} at {record.at}")
    return EXIT_OK


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
    manifest = verify(path, public)
    intact = "intact" + (
        f" ({manifest['n_groups']} group files)" if isinstance(manifest.get("n_groups"), int)
        else "")
    if public is not None:
        print(f"{path}: {intact}, signed with key {key_id(public)}")
    elif (path / SIGNATURE_FILE).is_file():
        print(f"{path}: {intact}; signed, but the signature was not checked: pass --key FILE "
              f"(or set {VERIFY_KEY_ENV})")
    else:
        print(f"{path}: {intact}; not signed")
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

"""Ed25519 signatures on bundle manifests: who wrote a bundle, not only that it is whole.

The manifest lists the SHA-256 of every other file in a bundle, so a signature over the
manifest's bytes covers the whole bundle. The training side holds the private key and writes
``manifest.sig``; a runtime holds only the public key, so a machine that can verify bundles
cannot forge them (an HMAC's shared key would let it).

``manifest.sig`` is one line: ``ed25519 <key id> <base64 signature>\\n``, where the key id is
the first 16 hex digits of the SHA-256 of the raw public key, so a refusal can say which key
signed the bundle and which one was expected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import BundleError, SignatureError

SIGNATURE_FILE = "manifest.sig"
#: Training side: the private key file that signs bundles (``[persist] signing_key`` wins).
SIGNING_KEY_ENV = "ASTRAGUARD_TRAIN_SIGNING_KEY"
#: Runtime: the public key file bundles must be signed with (``key=`` / ``--key`` wins).
VERIFY_KEY_ENV = "ASTRAGUARD_TRAIN_VERIFY_KEY"

_SIGNATURE_LINE = re.compile(rb"ed25519 ([0-9a-f]{16}) ([A-Za-z0-9+/]{86}==)\n")


def key_id(public: Ed25519PublicKey) -> str:
    """Return the short id of ``public``: 16 hex digits of the SHA-256 of its raw bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keys(private_path: str | Path) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair: ``private_path`` (mode 0600) and ``<private_path>.pub``.

    :raises BundleError: when either file exists already (a key is never overwritten), or
        the directory cannot be created.
    """
    private_path = Path(private_path)
    public_path = private_path.with_name(private_path.name + ".pub")
    for p in (private_path, public_path):
        if p.exists():
            raise BundleError(f"{p}: exists already; remove it or choose another path")
    try:
        private_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BundleError(f"{private_path.parent}: cannot create: {exc.strerror}") from None
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Created 0600 from the start: a chmod after writing would leave a window.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem)
    public_path.write_bytes(public_pem)
    return private_path, public_path


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: cannot read the {what}: {exc.strerror}") from None


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """Return the Ed25519 private key in the PEM file at ``path``.

    :raises BundleError: naming the file when it is unreadable or not an Ed25519 private key.
    """
    path = Path(path)
    data = _read_key_file(path, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(
            f"{path}: not an unencrypted Ed25519 private key in PEM form; create one with "
            "'astraguard-train models keygen FILE'"
        )
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """Return the Ed25519 public key in the PEM file at ``path``.

    :raises BundleError: naming the file when it is unreadable, a private key, or not an
        Ed25519 public key.
    """
    path = Path(path)
    data = _read_key_file(path, "verification key")
    if b"PRIVATE KEY" in data:
        raise BundleError(
            f"{path}: a private key; a runtime needs only the public key, "
            f"{path.name}.pub beside it (written by 'astraguard-train models keygen')"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"{path}: not an Ed25519 public key in PEM form")
    return key


def public_key(key: str | Path | Ed25519PublicKey) -> Ed25519PublicKey:
    """Return ``key`` itself, or the public key in the PEM file it names."""
    return key if isinstance(key, Ed25519PublicKey) else load_public_key(key)


def sign(manifest: bytes, key: Ed25519PrivateKey) -> str:
    """Return the text of ``manifest.sig`` for the manifest bytes ``manifest``."""
    signature = base64.b64encode(key.sign(manifest)).decode("ascii")
    return f"ed25519 {key_id(key.public_key())} {signature}\n"


def check(version_dir: Path, manifest: bytes, key: Ed25519PublicKey) -> None:
    """Verify ``manifest.sig`` in ``version_dir`` against the manifest bytes and ``key``.

    :raises SignatureError: naming the file when it is missing, malformed, made with another
        key, or does not match the manifest.
    """
    path = version_dir / SIGNATURE_FILE
    expected = key_id(key)
    if path.is_symlink() or not path.is_file():
        raise SignatureError(
            f"{version_dir}: not signed (no {SIGNATURE_FILE}); a runtime with a key loads only "
            f"bundles signed with it (key {expected})"
        )
    found = _SIGNATURE_LINE.fullmatch(path.read_bytes())
    if found is None:
        raise SignatureError(
            f"{path}: malformed; expected one line 'ed25519 <key id> <base64 signature>'"
        )
    signer = found.group(1).decode("ascii")
    if signer != expected:
        raise SignatureError(f"{path}: signed with key {signer}, not with the given key {expected}")
    try:
        key.verify(base64.b64decode(found.group(2), validate=True), manifest)
    except (InvalidSignature, binascii.Error):
        raise SignatureError(
            f"{path}: the signature does not match manifest.json; the bundle was altered "
            "after signing"
        ) from None

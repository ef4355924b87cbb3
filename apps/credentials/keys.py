"""The issuer's Ed25519 keys: where they come from, their ids, and rotation.

``CREDENTIALS_SIGNING_KEYS`` (or ``CREDENTIALS_SIGNING_KEYS_FILE``) holds PEM blocks, newest
first: the first private key signs; every key in it (private or public PEM) is published, so
credentials signed before a rotation keep verifying. When it is unset, one key is generated
once into ``CREDENTIALS_KEY_DIR/signing_keys.pem`` (0600, in a 0700 dir) and read from there
afterwards; ``manage.py credentials_rotate_key`` puts a new key in front of it.

A key's id is its RFC 7638 JWK thumbprint: stable, derived from the key alone, nothing to name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)
KEY_FILE_NAME = "signing_keys.pem"


@dataclass(frozen=True)
class IssuerKey:
    kid: str  # JWK thumbprint
    public_jwk: dict
    public_pem: bytes
    private_pem: bytes | None  # None: a retired key kept only to verify what it signed


@dataclass(frozen=True)
class KeySet:
    keys: tuple[IssuerKey, ...]

    @property
    def signing(self) -> IssuerKey:
        return self.keys[0]

    def get(self, kid: str) -> IssuerKey | None:
        return next((k for k in self.keys if k.kid == kid), None)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _issuer_key(public: Ed25519PublicKey, private: Ed25519PrivateKey | None) -> IssuerKey:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}
    # RFC 7638: the required members, sorted, no whitespace.
    thumbprint = _b64url(hashlib.sha256(json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()).digest())
    public_pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    private_pem = None
    if private is not None:
        private_pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    return IssuerKey(kid=thumbprint, public_jwk=jwk, public_pem=public_pem, private_pem=private_pem)


def parse_key_bundle(text: str, *, source: str) -> KeySet:
    """PEM blocks -> a KeySet; the first must be a private Ed25519 key. Raises ImproperlyConfigured."""
    # An environment variable often carries the PEM's newlines as a literal "\n".
    text = text.replace("\\n", "\n")
    keys: list[IssuerKey] = []
    for match in PEM_BLOCK.finditer(text):
        block, kind = match.group(0).encode(), match.group(1)
        try:
            if "PRIVATE" in kind:
                private = serialization.load_pem_private_key(block, password=None)
                if not isinstance(private, Ed25519PrivateKey):
                    raise ImproperlyConfigured(f"{source}: only Ed25519 keys are supported")
                key = _issuer_key(private.public_key(), private)
            else:
                public = serialization.load_pem_public_key(block)
                if not isinstance(public, Ed25519PublicKey):
                    raise ImproperlyConfigured(f"{source}: only Ed25519 keys are supported")
                key = _issuer_key(public, None)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(f"{source}: a PEM block cannot be read ({exc})") from None
        if all(k.kid != key.kid for k in keys):
            keys.append(key)
    if not keys or keys[0].private_pem is None:
        raise ImproperlyConfigured(f"{source}: the first PEM block must be the Ed25519 private key that signs")
    return KeySet(tuple(keys))


def new_private_pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )


def key_file() -> Path:
    return Path(settings.CREDENTIALS_KEY_DIR) / KEY_FILE_NAME


def write_key_file(path: Path, text: str) -> None:
    """Write the bundle 0600 (dir 0700), replacing it atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _generated_bundle() -> str:
    path = key_file()
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once (web and worker) end up with the same key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(new_private_pem())
    return path.read_text()


_lock = threading.Lock()
_cache: dict[tuple, KeySet] = {}


def issuer_keys() -> KeySet:
    """The configured keys (cached per configuration and key-file change)."""
    configured = settings.CREDENTIALS_SIGNING_KEYS
    if configured:
        cache_key: tuple = ("settings", configured)
    else:
        path = key_file()
        cache_key = ("file", str(path), path.stat().st_mtime_ns if path.exists() else None)
    with _lock:
        found = _cache.get(cache_key)
        if found is None:
            if configured:
                found = parse_key_bundle(configured, source="CREDENTIALS_SIGNING_KEYS")
            else:
                found = parse_key_bundle(_generated_bundle(), source=str(key_file()))
                path = key_file()
                cache_key = ("file", str(path), path.stat().st_mtime_ns)
            _cache.clear()
            _cache[cache_key] = found
        return found


def rotate_generated_key() -> IssuerKey:
    """Put a new signing key in front of the generated bundle; the old ones stay published."""
    if settings.CREDENTIALS_SIGNING_KEYS:
        raise ImproperlyConfigured(
            "CREDENTIALS_SIGNING_KEYS is set: rotate by putting a new private key first in it (keep the old ones)."
        )
    current = _generated_bundle()
    write_key_file(key_file(), new_private_pem() + "\n" + current)
    with _lock:
        _cache.clear()
    return issuer_keys().signing

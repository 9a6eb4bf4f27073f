"""Decoding the protobuf bodies kubectl's typed commands send (`kubectl create namespace|configmap|
secret|serviceaccount`), for the few kinds they create; anything else stays 415 Unsupported.

The envelope is the `k8s\\0` magic and a `runtime.Unknown` whose `raw` is the typed message; the field
numbers below are those of Kubernetes' `generated.proto` for these kinds and `ObjectMeta`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

from tests.kube import errors

MAGIC = b"k8s\x00"

Field = tuple[int, int, Any]  # (number, wire type, value: int for varints, bytes for length-delimited)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise errors.bad_request("truncated protobuf varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> Iterator[Field]:
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            yield number, wire, data[pos : pos + length]
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            yield number, wire, data[pos : pos + size]
            pos += size
        else:
            raise errors.bad_request(f"unsupported protobuf wire type {wire}")


def _text(value: Any) -> str:
    return bytes(value).decode()


def _map_entry(value: bytes) -> tuple[str, bytes]:
    key, entry = "", b""
    for number, _, item in _fields(value):
        if number == 1:
            key = _text(item)
        elif number == 2:
            entry = bytes(item)
    return key, entry


def _owner_reference(value: bytes) -> dict[str, Any]:
    names = {1: "kind", 3: "name", 4: "uid", 5: "apiVersion"}
    ref: dict[str, Any] = {}
    for number, _, item in _fields(value):
        if number in names:
            ref[names[number]] = _text(item)
        elif number == 6:
            ref["controller"] = bool(item)
        elif number == 7:
            ref["blockOwnerDeletion"] = bool(item)
    return ref


def _object_meta(value: bytes) -> dict[str, Any]:
    strings = {1: "name", 2: "generateName", 3: "namespace"}
    meta: dict[str, Any] = {}
    for number, _, item in _fields(value):
        if number in strings:
            meta[strings[number]] = _text(item)
        elif number in (11, 12):
            key, entry = _map_entry(item)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = entry.decode()
        elif number == 13:
            meta.setdefault("ownerReferences", []).append(_owner_reference(item))
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(item))
    return meta


def _namespace(raw: bytes) -> dict[str, Any]:
    return {"metadata": _object_meta(next((bytes(v) for n, _, v in _fields(raw) if n == 1), b""))}


def _config_map(raw: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, _, item in _fields(raw):
        if number == 1:
            obj["metadata"] = _object_meta(item)
        elif number in (2, 3):
            key, entry = _map_entry(item)
            if number == 2:
                obj.setdefault("data", {})[key] = entry.decode()
            else:
                obj.setdefault("binaryData", {})[key] = base64.b64encode(entry).decode()
        elif number == 4:
            obj["immutable"] = bool(item)
    return obj


def _secret(raw: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, _, item in _fields(raw):
        if number == 1:
            obj["metadata"] = _object_meta(item)
        elif number in (2, 4):
            key, entry = _map_entry(item)
            if number == 2:
                obj.setdefault("data", {})[key] = base64.b64encode(entry).decode()
            else:
                obj.setdefault("stringData", {})[key] = entry.decode()
        elif number == 3:
            obj["type"] = _text(item)
        elif number == 5:
            obj["immutable"] = bool(item)
    return obj


def _service_account(raw: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, _, item in _fields(raw):
        if number == 1:
            obj["metadata"] = _object_meta(item)
        elif number == 4:
            obj["automountServiceAccountToken"] = bool(item)
    return obj


_DECODERS: dict[tuple[str, str], Callable[[bytes], dict[str, Any]]] = {
    ("v1", "Namespace"): _namespace,
    ("v1", "ConfigMap"): _config_map,
    ("v1", "Secret"): _secret,
    ("v1", "ServiceAccount"): _service_account,
}


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object, or 415 for kinds this module does not know."""
    if not body.startswith(MAGIC):
        raise errors.bad_request("a protobuf body must start with the k8s magic number")
    api_version = kind = ""
    raw = b""
    for number, _, item in _fields(body[len(MAGIC) :]):
        if number == 1:
            for type_number, _, type_item in _fields(item):
                if type_number == 1:
                    api_version = _text(type_item)
                elif type_number == 2:
                    kind = _text(type_item)
        elif number == 2:
            raw = bytes(item)
    decoder = _DECODERS.get((api_version, kind))
    if decoder is None:
        raise errors.ApiError(
            415,
            "UnsupportedMediaType",
            f"the emulator decodes protobuf only for {sorted(k for _, k in _DECODERS)}, "
            f"not {api_version} {kind}; send JSON",
        )
    return {"apiVersion": api_version, "kind": kind, **decoder(raw)}

"""The emulator's stand-in for Discord's CDN (``cdn.discordapp.com``): the avatars pages
show, at the paths Discord's image formatting documents, at the emulator's root (the
API is under ``/api/v10`` beside them; ``DISCORD_CDN_BASE`` defaults to that root):

* ``/avatars/{user}/{hash}.png``: a user's avatar;
* ``/guilds/{guild}/users/{user}/avatars/{hash}.png``: a member's guild avatar;
* ``/embed/avatars/{index}.png``: the default avatars 0 to 5.

An avatar exists only while the user (or member) has that hash: an unknown user, guild
or hash, or a stale hash, answers 404 as the CDN does; ``?size=`` must be a power of two
from 16 to 4096. The images are generated (a symmetric 5 x 5 pattern, from the path),
PNG only: Daylock asks for nothing else. The CDN is not the API: its requests are not
in the request record and count towards no rate limit.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from functools import lru_cache

from daylock.testing.discord_emulator.state import EmulatorState
from daylock.testing.discord_emulator.web import Request, Response

_USER_AVATAR = re.compile(r"/avatars/(\d+)/([A-Za-z0-9_]+)\.png")
_GUILD_AVATAR = re.compile(r"/guilds/(\d+)/users/(\d+)/avatars/([A-Za-z0-9_]+)\.png")
_DEFAULT_AVATAR = re.compile(r"/embed/avatars/(\d+)\.png")
#: Discord's sizes: powers of two from 16 to 4096.
SIZES = frozenset(1 << n for n in range(4, 13))
#: Pixels of a generated image when no ``size`` is asked (and at most: the emulator
#: draws the same picture at any size; a browser scales it).
DEFAULT_PIXELS = 128
MAX_PIXELS = 256
DEFAULT_AVATARS = 6


def claims(path: str) -> bool:
    """Whether ``path`` is one of the CDN's (the router hands it here, unrecorded)."""
    return path.startswith(("/avatars/", "/guilds/", "/embed/"))


def route(*, state: EmulatorState, request: Request) -> Response:
    if request.method not in {"GET", "HEAD"}:
        return _text(405, "405: Method Not Allowed")
    size = request.query.get("size")
    if size is not None and (not str(size).isdigit() or int(size) not in SIZES):
        return _text(400, "400: Bad Request (size must be a power of two from 16 to 4096)")
    pixels = min(int(size), MAX_PIXELS) if size is not None else DEFAULT_PIXELS
    if not _exists(state, request.path):
        return _text(404, "404: Not Found")
    body = b"" if request.method == "HEAD" else _identicon(request.path, pixels)
    headers = [("Content-Type", "image/png"), ("Cache-Control", "public, max-age=86400")]
    return Response(200, body, headers)


def _exists(state: EmulatorState, path: str) -> bool:
    if match := _DEFAULT_AVATAR.fullmatch(path):
        return int(match[1]) < DEFAULT_AVATARS
    with state.lock:
        if match := _USER_AVATAR.fullmatch(path):
            user = state.config.user(match[1])
            return user is not None and user.avatar == match[2]
        if match := _GUILD_AVATAR.fullmatch(path):
            user = state.config.user(match[2])
            return (
                match[1] == state.config.guild_id
                and user is not None
                and user.in_guild
                and user.guild_avatar == match[3]
            )
    return False


def _text(status: int, message: str) -> Response:
    return Response(status, message.encode(), [("Content-Type", "text/plain; charset=utf-8")])


@lru_cache(maxsize=256)
def _identicon(key: str, pixels: int) -> bytes:
    """A PNG of ``pixels`` x ``pixels``: a 5 x 5 grid mirrored left to right, its cells
    and colour drawn from ``key``'s SHA-256 (the same key, the same picture)."""
    digest = hashlib.sha256(key.encode()).digest()
    ink = (digest[0] // 2 + 40, digest[1] // 2 + 40, digest[2] // 2 + 40)
    paper = (238, 238, 242)
    cells = [[(digest[3 + row * 3 + min(col, 4 - col)] & 1) == 1 for col in range(5)]
             for row in range(5)]  # fmt: skip
    rows = []
    for y in range(pixels):
        line = cells[y * 5 // pixels]
        rows.append(b"\x00" + b"".join(bytes(ink if line[x * 5 // pixels] else paper)
                                       for x in range(pixels)))  # fmt: skip
    return _png(pixels, pixels, b"".join(rows))


def _png(width: int, height: int, raw: bytes) -> bytes:
    """A truecolour PNG (8 bits per channel) around filtered scanlines."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )

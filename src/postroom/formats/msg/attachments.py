"""How the ``.msg`` writer names attachments, and which of them the HTML body shows itself.

* A named attachment keeps its name (any folder part dropped) as PidTagAttachLongFilename and
  PidTagDisplayName; an unnamed one is called ``ATT00001.txt``, ``ATT00002.bin`` … as Outlook
  and Exchange name them, the extension following its MIME type from a fixed table (not the
  machine's ``mime.types``, so output does not depend on the machine).
* PidTagAttachFilename is an MS-DOS 8.3 name made from the long one, unique within the message
  (``REPORT~1.PDF``, ``REPORT~2.PDF``), as Windows makes short names.
* An attached message is shown by the name it was given (without ``.eml``), else by its subject.
* An attachment is *shown in the body* when the HTML refers to it by a ``cid:`` URL or mentions
  its Content-Location; the writer then hides it from the attachment list.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["AttachmentNames", "HtmlReferences"]

_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".htm",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "text/xml": ".xml",
    "text/rtf": ".rtf",
    "text/enriched": ".txt",
    "text/x-vcard": ".vcf",
    "text/vcard": ".vcf",
    "text/rfc822-headers": ".txt",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "image/webp": ".webp",
    "image/svg+xml": ".svg",
    "image/tiff": ".tif",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/json": ".json",
    "application/xml": ".xml",
    "application/rtf": ".rtf",
    "application/ms-tnef": ".dat",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/pkcs7-mime": ".p7m",
    "application/x-pkcs7-mime": ".p7m",
    "application/pgp-signature": ".asc",
    "application/pgp-encrypted": ".asc",
    "audio/mpeg": ".mp3",
    "video/mp4": ".mp4",
}
_DEFAULT_EXTENSION = ".bin"
_UNTITLED_MESSAGE = "Untitled message"
# Characters an 8.3 name may hold besides letters and digits (FAT's allowed punctuation).
_NOT_SHORT = re.compile(r"[^A-Z0-9!#$%&'()\-@^_`{}~]")
_CID_URL = re.compile(r"""cid:([^\s"'<>)]+)""")  # searched in the lower-cased HTML


class AttachmentNames:
    """The names of one message's attachments: numbering of unnamed ones, unique short names."""

    def __init__(self) -> None:
        self._unnamed = 0
        self._short: set[str] = set()
        self._tried: dict[str, int] = {}  # the last ~N tried for a short stem, so each name takes ~O(1)

    def file_names(self, name: str, content_type: str) -> tuple[str, str, str]:
        """Long name, 8.3 name and extension (with its dot, or "") of an attachment by value."""
        long_name = base_name(name)
        if not long_name:
            self._unnamed += 1
            long_name = f"ATT{self._unnamed:05d}{_EXTENSIONS.get(content_type, _DEFAULT_EXTENSION)}"
        stem, extension = _split_extension(long_name)
        return long_name, self._short_name(stem, extension), extension

    def _short_name(self, stem: str, extension: str) -> str:
        base = _NOT_SHORT.sub("", stem.upper())
        suffix = _NOT_SHORT.sub("", extension[1:].upper())[:3]
        dotted = f".{suffix}" if suffix else ""
        exact = base == stem.upper() and suffix == extension[1:].upper() and 0 < len(base) <= 8
        candidate = f"{base}{dotted}"
        key = f"{(base or 'ATTACH')[:6]}{dotted}"
        number = self._tried.get(key, 0)
        while not exact or candidate in self._short:
            exact = True  # from here on only uniqueness matters
            number += 1
            tail = f"~{number}"
            candidate = f"{(base or 'ATTACH')[: 8 - len(tail)]}{tail}{dotted}"
        self._tried[key] = number
        self._short.add(candidate)
        return candidate

    @staticmethod
    def message_name(name: str, subject: str) -> str:
        """The display name of an attached message: its file name without ``.eml``, else its subject."""
        stem, extension = _split_extension(base_name(name))
        if extension.lower() in (".eml", ".msg"):
            return stem or subject or _UNTITLED_MESSAGE
        return base_name(name) or subject or _UNTITLED_MESSAGE


def base_name(name: str) -> str:
    """The name without any folder part a sender's client left in it (``C:\\x\\a.pdf`` → ``a.pdf``)."""
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip()


def _split_extension(name: str) -> tuple[str, str]:
    """``report.final.pdf`` → ``("report.final", ".pdf")``; a leading dot starts no extension."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or not extension or " " in extension:
        return name, ""
    return stem, f".{extension}"


class HtmlReferences:
    """What an HTML body shows by reference: ``cid:`` URLs, and Content-Location values it mentions."""

    def __init__(self, html: str) -> None:
        self._lower = html.lower()
        self._cids: frozenset[str] | None = None

    def shows(self, content_id: str, location: str) -> bool:
        """Whether the part with this Content-ID or Content-Location is displayed inside the HTML."""
        if not self._lower:
            return False
        if content_id and content_id.lower() in self._content_ids():
            return True
        return bool(location) and location.lower() in self._lower

    def _content_ids(self) -> frozenset[str]:
        if self._cids is None:  # URL-decoded: "cid:a%40b" refers to Content-ID <a@b>
            self._cids = frozenset(unquote(m.group(1)).strip("<>") for m in _CID_URL.finditer(self._lower))
        return self._cids

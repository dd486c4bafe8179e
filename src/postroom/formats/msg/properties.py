"""MAPI properties as an Outlook ``.msg`` file stores them ([MS-OXMSG] 2.1 and 2.4).

Every object of a ``.msg`` — the message, each recipient, each attachment, each embedded message —
is a storage holding one *property stream* ``__properties_version1.0`` (2.4) and one
``__substg1.0_XXXXYYYY`` stream per variable-length value (2.1.3), named after the property tag.
The property stream is a header followed by one 16-byte entry per property (2.4.2)::

    header      32 bytes for the top-level message (2.4.1.1), 24 for an embedded message
                (2.4.1.2), 8 for an attachment or a recipient (2.4.1.3)
    entry       tag (4) | flags (4) | value (8)          fixed-length types (2.4.2.1)
    entry       tag (4) | flags (4) | size (4) | 0 (4)   variable-length types (2.4.2.2): the value is
                                                         in its ``__substg1.0_`` stream; a PtypString's
                                                         size counts a terminating NUL the stream lacks

:class:`Properties` collects values and turns them into those streams. Tags are named by their
canonical [MS-OXPROPS] names (``PidTagSubject`` → :attr:`Tag.SUBJECT`); the value of each tag is
defined in the section of [MS-OXCMSG], [MS-OXOMSG] or [MS-OXPROPS] that the canonical name finds.
Also here: the named-property storage (2.2.3), one-off entry IDs and search keys ([MS-OXCDATA]
2.2.5.1, 2.3.3), and the ``.msg`` CLSID. Strings are always written as PtypString (UTF-16LE), and
a string that is empty (after dropping NULs, which MAPI strings cannot hold) is not written at all.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import IntEnum

from postroom.formats.msg.cfb import Storage, Stream

__all__ = [
    "MESSAGE_CLSID",
    "PROPERTIES_STREAM",
    "Properties",
    "PropertyType",
    "Tag",
    "attachment_storage_name",
    "embedded_header",
    "filetime",
    "flat_entry_list",
    "named_property_storage",
    "object_header",
    "one_off_entry_id",
    "recipient_storage_name",
    "search_key",
    "substg_name",
    "top_level_header",
]

# [MS-OXMSG] 2.1.1: the CLSID of a message storage, {00020D0B-0000-0000-C000-000000000046}, as stored
# (the first three fields little-endian).
MESSAGE_CLSID = bytes.fromhex("0B0D020000000000C000000000000046")
PROPERTIES_STREAM = "__properties_version1.0"
_NAMEID_STORAGE = "__nameid_version1.0"
_RECIPIENT_PREFIX = "__recip_version1.0_#"
_ATTACHMENT_PREFIX = "__attach_version1.0_#"


class PropertyType(IntEnum):
    """The property types this writer uses ([MS-OXCDATA] 2.11.1)."""

    INTEGER32 = 0x0003  # PtypInteger32
    BOOLEAN = 0x000B  # PtypBoolean
    OBJECT = 0x000D  # PtypObject: an embedded message storage
    STRING = 0x001F  # PtypString, UTF-16LE
    TIME = 0x0040  # PtypTime, a FILETIME
    BINARY = 0x0102  # PtypBinary


class Tag(IntEnum):
    """Property tags: the property ID in the high 16 bits, its :class:`PropertyType` in the low 16."""

    # The message ([MS-OXCMSG] 2.2.1, [MS-OXOMSG] 2.2.1 and 2.2.3).
    MESSAGE_CLASS = 0x001A001F  # PidTagMessageClass
    SUBJECT = 0x0037001F  # PidTagSubject
    SUBJECT_PREFIX = 0x003D001F  # PidTagSubjectPrefix
    NORMALIZED_SUBJECT = 0x0E1D001F  # PidTagNormalizedSubject
    CONVERSATION_TOPIC = 0x0070001F  # PidTagConversationTopic
    IMPORTANCE = 0x00170003  # PidTagImportance
    PRIORITY = 0x00260003  # PidTagPriority
    SENSITIVITY = 0x00360003  # PidTagSensitivity
    CLIENT_SUBMIT_TIME = 0x00390040  # PidTagClientSubmitTime
    MESSAGE_DELIVERY_TIME = 0x0E060040  # PidTagMessageDeliveryTime
    CREATION_TIME = 0x30070040  # PidTagCreationTime
    LAST_MODIFICATION_TIME = 0x30080040  # PidTagLastModificationTime
    MESSAGE_FLAGS = 0x0E070003  # PidTagMessageFlags
    MESSAGE_SIZE = 0x0E080003  # PidTagMessageSize
    HAS_ATTACHMENTS = 0x0E1B000B  # PidTagHasAttachments
    STORE_SUPPORT_MASK = 0x340D0003  # PidTagStoreSupportMask
    INTERNET_CODEPAGE = 0x3FDE0003  # PidTagInternetCodepage
    TRANSPORT_MESSAGE_HEADERS = 0x007D001F  # PidTagTransportMessageHeaders
    INTERNET_MESSAGE_ID = 0x1035001F  # PidTagInternetMessageId
    IN_REPLY_TO_ID = 0x1042001F  # PidTagInReplyToId
    INTERNET_REFERENCES = 0x1039001F  # PidTagInternetReferences
    BODY = 0x1000001F  # PidTagBody
    HTML = 0x10130102  # PidTagHtml
    RTF_COMPRESSED = 0x10090102  # PidTagRtfCompressed
    RTF_IN_SYNC = 0x0E1F000B  # PidTagRtfInSync
    NATIVE_BODY = 0x10160003  # PidTagNativeBody
    DISPLAY_TO = 0x0E04001F  # PidTagDisplayTo
    DISPLAY_CC = 0x0E03001F  # PidTagDisplayCc
    DISPLAY_BCC = 0x0E02001F  # PidTagDisplayBcc
    REPLY_RECIPIENT_NAMES = 0x0050001F  # PidTagReplyRecipientNames
    REPLY_RECIPIENT_ENTRIES = 0x004F0102  # PidTagReplyRecipientEntries
    # Who sent it ([MS-OXOMSG] 2.2.1): the sender, and the mailbox it was sent for (the From).
    SENDER_NAME = 0x0C1A001F  # PidTagSenderName
    SENDER_EMAIL_ADDRESS = 0x0C1F001F  # PidTagSenderEmailAddress
    SENDER_ADDRESS_TYPE = 0x0C1E001F  # PidTagSenderAddressType
    SENDER_SMTP_ADDRESS = 0x5D01001F  # PidTagSenderSmtpAddress
    SENDER_ENTRY_ID = 0x0C190102  # PidTagSenderEntryId
    SENDER_SEARCH_KEY = 0x0C1D0102  # PidTagSenderSearchKey
    SENT_REPRESENTING_NAME = 0x0042001F  # PidTagSentRepresentingName
    SENT_REPRESENTING_EMAIL_ADDRESS = 0x0065001F  # PidTagSentRepresentingEmailAddress
    SENT_REPRESENTING_ADDRESS_TYPE = 0x0064001F  # PidTagSentRepresentingAddressType
    SENT_REPRESENTING_SMTP_ADDRESS = 0x5D02001F  # PidTagSentRepresentingSmtpAddress
    SENT_REPRESENTING_ENTRY_ID = 0x00410102  # PidTagSentRepresentingEntryId
    SENT_REPRESENTING_SEARCH_KEY = 0x003B0102  # PidTagSentRepresentingSearchKey
    # Whose mailbox received it ([MS-OXOMSG] 2.2.1).
    RECEIVED_BY_NAME = 0x0040001F  # PidTagReceivedByName
    RECEIVED_BY_EMAIL_ADDRESS = 0x0076001F  # PidTagReceivedByEmailAddress
    RECEIVED_BY_ADDRESS_TYPE = 0x0075001F  # PidTagReceivedByAddressType
    RECEIVED_BY_SMTP_ADDRESS = 0x5D07001F  # PidTagReceivedBySmtpAddress
    RECEIVED_BY_ENTRY_ID = 0x003F0102  # PidTagReceivedByEntryId
    RECEIVED_BY_SEARCH_KEY = 0x00510102  # PidTagReceivedBySearchKey
    RECEIVED_REPRESENTING_NAME = 0x0044001F  # PidTagReceivedRepresentingName
    RECEIVED_REPRESENTING_EMAIL_ADDRESS = 0x0078001F  # PidTagReceivedRepresentingEmailAddress
    RECEIVED_REPRESENTING_ADDRESS_TYPE = 0x0077001F  # PidTagReceivedRepresentingAddressType
    RECEIVED_REPRESENTING_SMTP_ADDRESS = 0x5D08001F  # PidTagReceivedRepresentingSmtpAddress
    RECEIVED_REPRESENTING_ENTRY_ID = 0x00430102  # PidTagReceivedRepresentingEntryId
    RECEIVED_REPRESENTING_SEARCH_KEY = 0x00520102  # PidTagReceivedRepresentingSearchKey
    # Recipients ([MS-OXCMSG] 2.2.1.x recipient properties, [MS-OXOABK] for the address ones).
    RECIPIENT_TYPE = 0x0C150003  # PidTagRecipientType
    ROW_ID = 0x30000003  # PidTagRowid
    OBJECT_TYPE = 0x0FFE0003  # PidTagObjectType
    DISPLAY_TYPE = 0x39000003  # PidTagDisplayType
    DISPLAY_NAME = 0x3001001F  # PidTagDisplayName (also an attachment's)
    ADDRESS_TYPE = 0x3002001F  # PidTagAddressType
    EMAIL_ADDRESS = 0x3003001F  # PidTagEmailAddress
    SMTP_ADDRESS = 0x39FE001F  # PidTagSmtpAddress
    TRANSMITTABLE_DISPLAY_NAME = 0x3A20001F  # PidTagTransmittableDisplayName
    RECIPIENT_DISPLAY_NAME = 0x5FF6001F  # PidTagRecipientDisplayName
    ENTRY_ID = 0x0FFF0102  # PidTagEntryId
    RECIPIENT_ENTRY_ID = 0x5FF70102  # PidTagRecipientEntryId
    SEARCH_KEY = 0x300B0102  # PidTagSearchKey
    RECIPIENT_FLAGS = 0x5FFD0003  # PidTagRecipientFlags
    # Attachments ([MS-OXCMSG] 2.2.2).
    ATTACH_NUMBER = 0x0E210003  # PidTagAttachNumber
    ATTACH_METHOD = 0x37050003  # PidTagAttachMethod
    ATTACH_LONG_FILENAME = 0x3707001F  # PidTagAttachLongFilename
    ATTACH_FILENAME = 0x3704001F  # PidTagAttachFilename (8.3)
    ATTACH_EXTENSION = 0x3703001F  # PidTagAttachExtension
    ATTACH_MIME_TAG = 0x370E001F  # PidTagAttachMimeTag
    ATTACH_CONTENT_ID = 0x3712001F  # PidTagAttachContentId
    ATTACH_CONTENT_LOCATION = 0x3713001F  # PidTagAttachContentLocation
    ATTACH_FLAGS = 0x37140003  # PidTagAttachFlags
    ATTACHMENT_HIDDEN = 0x7FFE000B  # PidTagAttachmentHidden
    ATTACH_SIZE = 0x0E200003  # PidTagAttachSize
    RENDERING_POSITION = 0x370B0003  # PidTagRenderingPosition
    ATTACH_DATA_BINARY = 0x37010102  # PidTagAttachDataBinary
    ATTACH_DATA_OBJECT = 0x3701000D  # PidTagAttachDataObject: the embedded message storage

    @property
    def type(self) -> PropertyType:
        return _TYPES[self]


_TYPES = {tag: PropertyType(tag & 0xFFFF) for tag in Tag}

# PidTagMessageFlags ([MS-OXCMSG] 2.2.1.6): read; has attachments. Never mfUnsent (0x8): Outlook
# opens an unsent message as a draft.
MSGFLAG_READ = 0x00000001
MSGFLAG_HASATTACH = 0x00000010
# PidTagStoreSupportMask ([MS-OXPROPS]): Unicode strings, HTML and RTF bodies are understood.
STORE_UNICODE_OK = 0x00040000
STORE_HTML_OK = 0x00010000
STORE_RTF_OK = 0x00000800
# PidTagAttachMethod ([MS-OXCMSG] 2.2.2.9).
ATTACH_BY_VALUE = 1
ATTACH_EMBEDDED_MESSAGE = 5
# PidTagAttachFlags ([MS-OXCMSG] 2.2.2.18): attRenderedInBody, known to MAPI as ATT_MHTML_REF.
ATT_MHTML_REF = 0x00000004
# PidTagObjectType and PidTagDisplayType ([MS-OXCDATA], [MS-OXOABK]).
MAPI_MAILUSER = 6
MAPI_ATTACH = 7
DT_MAILUSER = 0
RECIPIENT_SENDABLE = 0x00000001  # PidTagRecipientFlags recipSendable
NO_RENDERING_POSITION = 0xFFFFFFFF  # PidTagRenderingPosition: not rendered in the text
CODEPAGE_UTF8 = 65001

Value = int | bool | str | datetime | bytes | bytearray | memoryview | Storage

# [MS-OXMSG] 2.4.2: every entry here is readable and writable (PROPATTR_READABLE | PROPATTR_WRITABLE).
_FLAGS = 0x00000006
_FIXED_ENTRY = struct.Struct("<II8s")
_VARIABLE_ENTRY = struct.Struct("<IIII")
_OBJECT_SIZE = 0xFFFFFFFF  # 2.4.2.2: the size of an embedded message entry
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_SURROGATE = re.compile("[\ud800-\udfff]")


class Properties:
    """The properties of one object, written as its property stream and ``__substg1.0_`` streams.

    Values are checked against the tag's type; ``None`` and empty strings are skipped, so a caller
    can set what it has without testing each value first. Setting a tag again replaces its value.
    """

    def __init__(self) -> None:
        self._values: dict[Tag, Value] = {}

    def __contains__(self, tag: Tag) -> bool:
        return tag in self._values

    def __len__(self) -> int:
        return len(self._values)

    def get(self, tag: Tag) -> Value | None:
        return self._values.get(tag)

    def set(self, tag: Tag, value: Value | None) -> None:
        if value is None:
            return
        if tag.type is PropertyType.STRING:
            if not isinstance(value, str):
                raise TypeError(f"{tag.name} needs a str, not {type(value).__name__}")
            value = _clean_string(value)
            if not value:
                return
        _check(tag, value)
        self._values[tag] = value

    def children(self, header: bytes) -> list[Stream | Storage]:
        """The property stream (after ``header``), one stream per variable-length value, and the
        embedded message storage if one was set."""
        entries = [header]
        children: list[Stream | Storage] = []
        for tag in sorted(self._values):
            value = self._values[tag]
            if isinstance(value, Storage):
                entries.append(_VARIABLE_ENTRY.pack(tag, _FLAGS, _OBJECT_SIZE, 0))
                children.append(value)
            elif isinstance(value, str):
                data = value.encode("utf-16-le")
                entries.append(_VARIABLE_ENTRY.pack(tag, _FLAGS, len(data) + 2, 0))
                children.append(Stream(substg_name(tag), data))
            elif isinstance(value, bytes | bytearray | memoryview):
                entries.append(_VARIABLE_ENTRY.pack(tag, _FLAGS, len(value), 0))
                children.append(Stream(substg_name(tag), value))
            else:
                entries.append(_FIXED_ENTRY.pack(tag, _FLAGS, _fixed_value(tag, value)))
        return [Stream(PROPERTIES_STREAM, b"".join(entries)), *children]


def _clean_string(text: str) -> str:
    """Text a PtypString can hold: no NUL (it would end the string), no lone surrogates."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-16-le")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


_PYTHON_TYPES: dict[PropertyType, tuple[type, ...]] = {
    PropertyType.INTEGER32: (int,),
    PropertyType.BOOLEAN: (bool,),
    PropertyType.OBJECT: (Storage,),
    PropertyType.STRING: (str,),
    PropertyType.TIME: (datetime,),
    PropertyType.BINARY: (bytes, bytearray, memoryview),
}


def _check(tag: Tag, value: Value) -> None:
    kind = tag.type
    expected = _PYTHON_TYPES[kind]
    if not isinstance(value, expected) or (kind is PropertyType.INTEGER32 and isinstance(value, bool)):
        raise TypeError(f"{tag.name} needs {expected[0].__name__}, not {type(value).__name__}")
    if kind is PropertyType.INTEGER32 and isinstance(value, int) and not -(2**31) <= value < 2**32:
        raise ValueError(f"{tag.name} value {value} does not fit 32 bits")


def _fixed_value(tag: Tag, value: Value) -> bytes:
    """The 8-byte value field of a fixed-length entry ([MS-OXMSG] 2.4.2.1), zero-padded."""
    if isinstance(value, bool):
        return b"\x01" if value else b"\x00"
    if isinstance(value, int):
        return (value & 0xFFFFFFFF).to_bytes(4, "little")
    if isinstance(value, datetime):
        return filetime(value).to_bytes(8, "little")
    raise TypeError(f"{tag.name} is not a fixed-length property")  # pragma: no cover - _check prevents it


def filetime(when: datetime) -> int:
    """A timezone-aware datetime as a FILETIME: 100-ns intervals since 1601-01-01 UTC, clamped."""
    if when.tzinfo is None:
        raise ValueError("a FILETIME needs a timezone-aware datetime")
    delta = when - _FILETIME_EPOCH
    ticks = (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10
    return min(max(ticks, 0), 2**63 - 1)


# ---------------------------------------------------------------- names and headers


def substg_name(tag: int) -> str:
    """The stream (or storage) holding a variable-length value ([MS-OXMSG] 2.1.3)."""
    return f"__substg1.0_{tag:08X}"


def recipient_storage_name(index: int) -> str:
    """[MS-OXMSG] 2.2.1: the recipient storages are numbered from 0, in 8 upper-case hex digits."""
    return f"{_RECIPIENT_PREFIX}{index:08X}"


def attachment_storage_name(index: int) -> str:
    """[MS-OXMSG] 2.2.2: the attachment storages are numbered from 0, in 8 upper-case hex digits."""
    return f"{_ATTACHMENT_PREFIX}{index:08X}"


def top_level_header(recipients: int, attachments: int) -> bytes:
    """[MS-OXMSG] 2.4.1.1: reserved (8), next recipient ID, next attachment ID, recipient count,
    attachment count (4 each), reserved (8). IDs run from 0, so the next ones are the counts."""
    return struct.pack("<8xIIII8x", recipients, attachments, recipients, attachments)


def embedded_header(recipients: int, attachments: int) -> bytes:
    """[MS-OXMSG] 2.4.1.2: the top-level header without its last 8 reserved bytes."""
    return struct.pack("<8xIIII", recipients, attachments, recipients, attachments)


def object_header() -> bytes:
    """[MS-OXMSG] 2.4.1.3: an attachment's or a recipient's header, 8 reserved bytes."""
    return bytes(8)


def named_property_storage() -> Storage:
    """The named property mapping storage ([MS-OXMSG] 2.2.3) with its GUID, entry and string streams.

    This writer sets no named property, so all three are empty: readers (Outlook, extract-msg)
    expect the storage and its three streams to be there all the same.
    """
    streams = [Stream(substg_name(tag), b"") for tag in (0x00020102, 0x00030102, 0x00040102)]
    return Storage(_NAMEID_STORAGE, streams)


# ---------------------------------------------------------------- addresses as MAPI identifies them

# [MS-OXCDATA] 2.2.5.1: the provider UID of one-off entry IDs, {A41F2B81-A3BE-1910-9D6E-00DD010F5402}.
_ONE_OFF_UID = bytes.fromhex("812B1FA4BEA310199D6E00DD010F5402")
_ONE_OFF_UNICODE = 0x8000  # MAPI_ONE_OFF_UNICODE: the strings are UTF-16LE
_ONE_OFF_NO_RICH_INFO = 0x0001  # MAPI_ONE_OFF_NO_RICH_INFO: an Internet address, no TNEF


def one_off_entry_id(name: str, address: str, address_type: str = "SMTP") -> bytes:
    """A One-Off EntryID ([MS-OXCDATA] 2.2.5.1): a recipient that is in no address book."""
    flags = _ONE_OFF_UNICODE | _ONE_OFF_NO_RICH_INFO
    strings = "".join(_clean_string(s) + "\x00" for s in (name or address, address_type, address))
    return struct.pack("<4x16sHH", _ONE_OFF_UID, 0, flags) + strings.encode("utf-16-le")


def search_key(address: str, address_type: str = "SMTP") -> bytes:
    """PidTagSearchKey ([MS-OXCPRPT] 2.2.1.9): ``ADDRTYPE:ADDRESS`` in upper case, NUL-terminated."""
    return _clean_string(f"{address_type}:{address}".upper()).encode("utf-8") + b"\x00"


def flat_entry_list(entry_ids: Sequence[bytes] | Iterable[bytes]) -> bytes:
    """A FlatEntryList ([MS-OXCDATA] 2.3.3): count, size, then each entry ID with its size, padded to 4."""
    items = []
    for entry_id in entry_ids:
        padding = -len(entry_id) % 4
        items.append(struct.pack("<I", len(entry_id)) + entry_id + bytes(padding))
    body = b"".join(items)
    return struct.pack("<II", len(items), len(body)) + body

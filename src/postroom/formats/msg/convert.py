"""An RFC 5322 message converted to an Outlook ``.msg`` file ([MS-OXMSG]): a received, read IPM.Note.

:func:`write_msg` (or :func:`msg_bytes`, or :func:`message_to_storage` for the storage tree)
converts any bytes and never raises for them: what cannot be read is explained in
:attr:`Conversion.warnings`, and the original header section always goes into
PidTagTransportMessageHeaders. The output depends only on the input, so it is byte-for-byte
repeatable: times come from the message's Date header and the ``received`` time passed in, never
from the clock.

What the item holds ([MS-OXCMSG], [MS-OXOMSG], [MS-OXCMAIL] for how Internet mail maps):

* Unicode strings only (PidTagStoreSupportMask says STORE_UNICODE_OK); empty strings are left out.
* Subject, its prefix ("Re: ") and normalized subject; the From mailbox as the sent-representing
  address and the Sender (else From) as the sender, each with a one-off entry ID and search key;
  Delivered-To (else a single To) as the receiving mailbox; Reply-To as the reply recipients.
* One recipient storage per To, Cc and Bcc mailbox (groups flattened), and PidTagDisplayTo/Cc/Bcc.
* Client-submit time from the Date header (else ``received``), delivery time from ``received``
  (else the Date); creation and modification times follow the delivery time.
* Flags: read, never unsent (an unsent item opens as a draft), has-attachments when it has them.
* Bodies: plain text (CRLF line ends), HTML as UTF-8 bytes with the internet code page 65001 (a
  ``<meta charset>`` in it is changed to say so), and the HTML encapsulated in compressed RTF for
  clients that render only RTF.
* Attachments by value with long and 8.3 names, extension, MIME type, Content-ID and -Location;
  those the HTML shows by ``cid:`` or location are hidden and flagged ATT_MHTML_REF. Attached
  messages become embedded messages, recursively.

Reading the MIME structure is :mod:`postroom.formats.msg.mime`'s job; the property encoding is
:mod:`postroom.formats.msg.properties`'; the compound file is :mod:`postroom.formats.msg.cfb`'s.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from postroom.domain.message_headers import (
    Headers,
    _decode_8bit,
    _decode_encoded_words,
    _first,
    _header_section,
    _one_line,
    _parse_addresses,
    _parse_date,
    _quote,
    _Warnings,
)
from postroom.formats.msg.attachments import AttachmentNames, HtmlReferences
from postroom.formats.msg.cfb import Storage, Stream, write_compound_file
from postroom.formats.msg.mime import Attachment, MimeMessage, read_message
from postroom.formats.msg.properties import (
    ATT_MHTML_REF,
    ATTACH_BY_VALUE,
    ATTACH_EMBEDDED_MESSAGE,
    CODEPAGE_UTF8,
    DT_MAILUSER,
    MAPI_ATTACH,
    MAPI_MAILUSER,
    MESSAGE_CLSID,
    MSGFLAG_HASATTACH,
    MSGFLAG_READ,
    NO_RENDERING_POSITION,
    RECIPIENT_SENDABLE,
    STORE_HTML_OK,
    STORE_RTF_OK,
    STORE_UNICODE_OK,
    Properties,
    Tag,
    attachment_storage_name,
    embedded_header,
    flat_entry_list,
    named_property_storage,
    object_header,
    one_off_entry_id,
    recipient_storage_name,
    search_key,
    substg_name,
    top_level_header,
)
from postroom.formats.msg.rtf import html_to_rtf, store_rtf

__all__ = ["Conversion", "message_to_storage", "msg_bytes", "write_msg"]

# [MS-OXMSG] 2.2.1 and 2.2.2: a .msg file holds at most 2,048 recipient and 2,048 attachment storages.
MAX_RECIPIENTS = 2048
MAX_ATTACHMENTS = 2048
_MESSAGE_CLASS = "IPM.Note"
_SMTP = "SMTP"
# PidTagNativeBody ([MS-OXCMSG] 2.2.1.49.1): the body the item was written in.
_NATIVE_PLAIN, _NATIVE_HTML = 1, 3
# [MS-OXCMAIL] 2.2.3.2.6.1: one to three letters, a colon, blanks.
_SUBJECT_PREFIX = re.compile(r"([^\W\d_]{1,3}):[ ]*")
_META_CHARSET = re.compile(r"""(<meta\b[^>]*?charset\s*=\s*["']?\s*)([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_NEWLINE = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Conversion:
    """What a conversion could not do perfectly, as sentences for the user (empty when nothing)."""

    warnings: tuple[str, ...]


def message_to_storage(raw: bytes, *, received: datetime | None = None) -> tuple[Storage, Conversion]:
    """The ``.msg`` storage tree of an RFC 5322 message; never raises for bytes.

    ``received`` is when the archive got the message (a naive datetime is taken as UTC): the
    delivery time, and the sent time when the message has no usable Date header.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"message_to_storage needs bytes, not {type(raw).__name__}")
    data = bytes(raw)  # no copy when it is bytes already
    if received is not None and received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    warnings = _Warnings()
    try:
        root = _Builder(warnings).root(data, received)
    except Exception as exc:  # a last line of defence: an archive export must never stop at one message
        warnings.add(f"the message could not be fully converted ({type(exc).__name__}: {_quote(str(exc))})")
        root = _fallback_root(data, received, warnings)
    return root, Conversion(tuple(warnings.items))


def write_msg(raw: bytes, out: BinaryIO, *, received: datetime | None = None) -> Conversion:
    """Write the ``.msg`` of an RFC 5322 message to ``out`` (written front to back, never sought)."""
    root, conversion = message_to_storage(raw, received=received)
    write_compound_file(root, out)
    return conversion


def msg_bytes(raw: bytes, *, received: datetime | None = None) -> tuple[bytes, Conversion]:
    """The ``.msg`` of an RFC 5322 message as bytes."""
    buffer = io.BytesIO()
    conversion = write_msg(raw, buffer, received=received)
    return buffer.getvalue(), conversion


# ---------------------------------------------------------------- addresses


@dataclass(frozen=True)
class _Mailbox:
    name: str
    address: str

    @property
    def display(self) -> str:
        return self.name or self.address


def _mailboxes(headers: Headers, name: str, warnings: _Warnings) -> list[_Mailbox]:
    values = headers.get(name)
    if not values:
        return []
    return [_Mailbox(n, a) for n, a in _parse_addresses(name, ", ".join(values), warnings)]


# The name, address, address type, SMTP address, entry ID and search key tags of one mailbox role.
_SENDER = (
    Tag.SENDER_NAME,
    Tag.SENDER_EMAIL_ADDRESS,
    Tag.SENDER_ADDRESS_TYPE,
    Tag.SENDER_SMTP_ADDRESS,
    Tag.SENDER_ENTRY_ID,
    Tag.SENDER_SEARCH_KEY,
)
_SENT_REPRESENTING = (
    Tag.SENT_REPRESENTING_NAME,
    Tag.SENT_REPRESENTING_EMAIL_ADDRESS,
    Tag.SENT_REPRESENTING_ADDRESS_TYPE,
    Tag.SENT_REPRESENTING_SMTP_ADDRESS,
    Tag.SENT_REPRESENTING_ENTRY_ID,
    Tag.SENT_REPRESENTING_SEARCH_KEY,
)
_RECEIVED_BY = (
    Tag.RECEIVED_BY_NAME,
    Tag.RECEIVED_BY_EMAIL_ADDRESS,
    Tag.RECEIVED_BY_ADDRESS_TYPE,
    Tag.RECEIVED_BY_SMTP_ADDRESS,
    Tag.RECEIVED_BY_ENTRY_ID,
    Tag.RECEIVED_BY_SEARCH_KEY,
)
_RECEIVED_REPRESENTING = (
    Tag.RECEIVED_REPRESENTING_NAME,
    Tag.RECEIVED_REPRESENTING_EMAIL_ADDRESS,
    Tag.RECEIVED_REPRESENTING_ADDRESS_TYPE,
    Tag.RECEIVED_REPRESENTING_SMTP_ADDRESS,
    Tag.RECEIVED_REPRESENTING_ENTRY_ID,
    Tag.RECEIVED_REPRESENTING_SEARCH_KEY,
)
_RECIPIENT = (
    Tag.DISPLAY_NAME,
    Tag.EMAIL_ADDRESS,
    Tag.ADDRESS_TYPE,
    Tag.SMTP_ADDRESS,
    Tag.ENTRY_ID,
    Tag.SEARCH_KEY,
)


def _set_mailbox(props: Properties, tags: Sequence[Tag], mailbox: _Mailbox) -> None:
    name, email, kind, smtp, entry_id, key = tags
    props.set(name, mailbox.display)
    if mailbox.address:
        props.set(email, mailbox.address)
        props.set(kind, _SMTP)
        props.set(smtp, mailbox.address)
        props.set(entry_id, one_off_entry_id(mailbox.display, mailbox.address))
        props.set(key, search_key(mailbox.address))


# Recipient types ([MS-OXOMSG] 2.2.3.1 PidTagRecipientType).
_RECIPIENT_TYPES = (("to", 1, Tag.DISPLAY_TO), ("cc", 2, Tag.DISPLAY_CC), ("bcc", 3, Tag.DISPLAY_BCC))


# ---------------------------------------------------------------- the storage tree


class _Builder:
    """Builds the storages of one ``.msg`` file, counting its recipients and attachments."""

    def __init__(self, warnings: _Warnings) -> None:
        self.warnings = warnings
        self.recipients = 0
        self.attachments = 0

    def root(self, raw: bytes, received: datetime | None) -> Storage:
        if not raw or raw.isspace():
            self.warnings.add("the message is empty")
        message = read_message(raw, self.warnings)
        children = self.message_children(message, received, size=len(raw), embedded=False)
        return Storage("Root Entry", [*children, named_property_storage()], clsid=MESSAGE_CLSID)

    def message_children(
        self, message: MimeMessage, received: datetime | None, *, size: int, embedded: bool
    ) -> list[Stream | Storage]:
        """The property streams, recipient storages and attachment storages of one message."""
        props = Properties()
        headers = message.headers
        where = "an attached message" if embedded else "the message"
        recipients = self._recipient_storages(headers, props)
        _set_subject(props, headers)
        self._set_senders(props, headers, where)
        self._set_times(props, headers, received, where)
        _set_identity(props, headers, message, size)
        html = self._set_bodies(props, message)
        attachments = self._attachment_storages(message.attachments, html)
        flags = MSGFLAG_READ | (MSGFLAG_HASATTACH if attachments else 0)
        props.set(Tag.MESSAGE_FLAGS, flags)
        props.set(Tag.HAS_ATTACHMENTS, bool(attachments))
        header = embedded_header if embedded else top_level_header
        return [*props.children(header(len(recipients), len(attachments))), *recipients, *attachments]

    # ---- recipients

    def _recipient_storages(self, headers: Headers, props: Properties) -> list[Storage]:
        storages: list[Storage] = []
        for name, kind, display_tag in _RECIPIENT_TYPES:
            mailboxes = _mailboxes(headers, name, self.warnings)
            props.set(display_tag, "; ".join(m.display for m in mailboxes if m.display))
            for mailbox in mailboxes:
                if self.recipients >= MAX_RECIPIENTS:
                    self.warnings.add(f"more than {MAX_RECIPIENTS} recipients; the rest are only in the headers")
                    break
                self.recipients += 1
                storages.append(_recipient_storage(len(storages), kind, mailbox))
        return storages

    # ---- senders and times

    def _set_senders(self, props: Properties, headers: Headers, where: str) -> None:
        from_ = _mailboxes(headers, "from", self.warnings)
        sender = _mailboxes(headers, "sender", self.warnings)
        if not from_:
            self.warnings.add(f"{where} has no From header" if "from" not in headers else f"{where} has no From")
        representing = from_ or sender
        if representing:
            _set_mailbox(props, _SENT_REPRESENTING, representing[0])
            _set_mailbox(props, _SENDER, (sender or from_)[0])
        receiver = _mailboxes(headers, "delivered-to", self.warnings)[:1] or _mailboxes(headers, "to", self.warnings)
        if len(receiver) == 1:
            _set_mailbox(props, _RECEIVED_BY, receiver[0])
            _set_mailbox(props, _RECEIVED_REPRESENTING, receiver[0])
        reply_to = [m for m in _mailboxes(headers, "reply-to", self.warnings) if m.address]
        if reply_to:
            props.set(Tag.REPLY_RECIPIENT_NAMES, "; ".join(m.display for m in reply_to))
            props.set(
                Tag.REPLY_RECIPIENT_ENTRIES, flat_entry_list(one_off_entry_id(m.display, m.address) for m in reply_to)
            )

    def _set_times(self, props: Properties, headers: Headers, received: datetime | None, where: str) -> None:
        value = _first(headers, "date")
        sent = None if value is None else _parse_date(value, self.warnings)
        if sent is None:
            missing = "no Date header" if value is None else "no readable Date header"
            if received is not None:
                self.warnings.add(f"{where} has {missing}: used the archive's received time")
            else:
                self.warnings.add(f"{where} has {missing} and no received time: the item has no date")
            sent = received
        delivered = received or sent
        props.set(Tag.CLIENT_SUBMIT_TIME, sent)
        props.set(Tag.MESSAGE_DELIVERY_TIME, delivered)
        props.set(Tag.CREATION_TIME, delivered)
        props.set(Tag.LAST_MODIFICATION_TIME, delivered)

    # ---- bodies

    def _set_bodies(self, props: Properties, message: MimeMessage) -> str:
        """Set the plain, HTML and RTF bodies; return the HTML written ("" if none)."""
        props.set(Tag.INTERNET_CODEPAGE, CODEPAGE_UTF8)
        if message.text:
            props.set(Tag.BODY, _NEWLINE.sub("\r\n", message.text))
        html = _utf8_meta(message.html or "").replace("\x00", "")
        if html:
            props.set(Tag.HTML, _utf8(html))
            try:
                props.set(Tag.RTF_COMPRESSED, store_rtf(html_to_rtf(html)))
                props.set(Tag.RTF_IN_SYNC, True)
            except Exception as exc:  # the RTF copy is a courtesy to old clients; never lose the message to it
                self.warnings.add(f"the HTML body could not be encapsulated in RTF ({type(exc).__name__})")
        native = _NATIVE_HTML if html else _NATIVE_PLAIN if message.text else None
        props.set(Tag.NATIVE_BODY, native)
        return html

    # ---- attachments

    def _attachment_storages(self, attachments: list[Attachment], html: str) -> list[Storage]:
        names = AttachmentNames()
        references = HtmlReferences(html)
        storages: list[Storage] = []
        for attachment in attachments:
            if self.attachments >= MAX_ATTACHMENTS:
                self.warnings.add(f"more than {MAX_ATTACHMENTS} attachments; the rest were left out")
                break
            self.attachments += 1
            storages.append(self._attachment_storage(len(storages), attachment, names, references))
        return storages

    def _attachment_storage(
        self, index: int, attachment: Attachment, names: AttachmentNames, references: HtmlReferences
    ) -> Storage:
        props = Properties()
        props.set(Tag.ATTACH_NUMBER, index)
        props.set(Tag.OBJECT_TYPE, MAPI_ATTACH)
        props.set(Tag.RENDERING_POSITION, NO_RENDERING_POSITION)
        props.set(Tag.ATTACH_MIME_TAG, attachment.content_type)
        props.set(Tag.ATTACH_CONTENT_ID, attachment.content_id)
        props.set(Tag.ATTACH_CONTENT_LOCATION, attachment.content_location)
        props.set(Tag.ATTACH_SIZE, min(len(attachment.data), 0x7FFFFFFF))
        shown = references.shows(attachment.content_id, attachment.content_location)
        props.set(Tag.ATTACHMENT_HIDDEN, shown)
        if shown:
            props.set(Tag.ATTACH_FLAGS, ATT_MHTML_REF)
        if attachment.message is not None:
            self._set_embedded(props, attachment, attachment.message)
        else:
            long_name, short_name, extension = names.file_names(attachment.name, attachment.content_type)
            props.set(Tag.ATTACH_METHOD, ATTACH_BY_VALUE)
            props.set(Tag.DISPLAY_NAME, long_name)
            props.set(Tag.ATTACH_LONG_FILENAME, long_name)
            props.set(Tag.ATTACH_FILENAME, short_name)
            props.set(Tag.ATTACH_EXTENSION, extension)
            props.set(Tag.ATTACH_DATA_BINARY, attachment.data)
        return Storage(attachment_storage_name(index), props.children(object_header()))

    def _set_embedded(self, props: Properties, attachment: Attachment, message: MimeMessage) -> None:
        """[MS-OXMSG] 2.2.2.1: the attached message in the attachment's PidTagAttachDataObject storage."""
        children = self.message_children(message, None, size=len(attachment.data), embedded=True)
        subject = _subject(message.headers)
        props.set(Tag.ATTACH_METHOD, ATTACH_EMBEDDED_MESSAGE)
        props.set(Tag.DISPLAY_NAME, AttachmentNames.message_name(attachment.name, subject))
        props.set(Tag.ATTACH_DATA_OBJECT, Storage(substg_name(Tag.ATTACH_DATA_OBJECT), children, MESSAGE_CLSID))


def _recipient_storage(index: int, kind: int, mailbox: _Mailbox) -> Storage:
    """[MS-OXMSG] 2.2.1: one recipient, a one-off SMTP address."""
    props = Properties()
    props.set(Tag.ROW_ID, index)
    props.set(Tag.RECIPIENT_TYPE, kind)
    props.set(Tag.OBJECT_TYPE, MAPI_MAILUSER)
    props.set(Tag.DISPLAY_TYPE, DT_MAILUSER)
    props.set(Tag.RECIPIENT_FLAGS, RECIPIENT_SENDABLE)
    props.set(Tag.RECIPIENT_DISPLAY_NAME, mailbox.display)
    props.set(Tag.TRANSMITTABLE_DISPLAY_NAME, mailbox.display)
    _set_mailbox(props, _RECIPIENT, mailbox)
    props.set(Tag.RECIPIENT_ENTRY_ID, props.get(Tag.ENTRY_ID))
    return Storage(recipient_storage_name(index), props.children(object_header()))


def _subject(headers: Headers) -> str:
    return _one_line(_decode_encoded_words(_first(headers, "subject") or ""))


def _set_subject(props: Properties, headers: Headers) -> None:
    subject = _subject(headers)
    props.set(Tag.MESSAGE_CLASS, _MESSAGE_CLASS)
    props.set(Tag.SUBJECT, subject)
    match = _SUBJECT_PREFIX.match(subject)
    normalized = subject[match.end() :] if match else subject
    props.set(Tag.SUBJECT_PREFIX, f"{match.group(1)}: " if match else "")
    props.set(Tag.NORMALIZED_SUBJECT, normalized)
    props.set(Tag.CONVERSATION_TOPIC, normalized)


def _set_identity(props: Properties, headers: Headers, message: MimeMessage, size: int) -> None:
    """Message-ID, threading, importance, sensitivity, size and the original header section."""
    props.set(Tag.STORE_SUPPORT_MASK, STORE_UNICODE_OK | STORE_HTML_OK | STORE_RTF_OK)
    props.set(Tag.TRANSPORT_MESSAGE_HEADERS, message.header_block)
    props.set(Tag.INTERNET_MESSAGE_ID, _one_line(_first(headers, "message-id") or ""))
    props.set(Tag.IN_REPLY_TO_ID, _one_line(_first(headers, "in-reply-to") or ""))
    props.set(Tag.INTERNET_REFERENCES, _one_line(" ".join(headers.get("references", []))))
    importance, priority = _importance(headers)
    props.set(Tag.IMPORTANCE, importance)
    props.set(Tag.PRIORITY, priority)
    props.set(Tag.SENSITIVITY, _SENSITIVITY.get((_first(headers, "sensitivity") or "").strip().lower(), 0))
    props.set(Tag.MESSAGE_SIZE, min(size, 0x7FFFFFFF))


# PidTagImportance (0 low, 1 normal, 2 high) and PidTagPriority (-1 non-urgent, 0 normal, 1 urgent)
# as [MS-OXCMAIL] 2.2.3.2.9 maps X-Priority, Importance, Priority and X-MSMail-Priority.
_LOW, _NORMAL, _HIGH = (0, -1), (1, 0), (2, 1)
_X_PRIORITY = {"1": _HIGH, "2": _HIGH, "3": _NORMAL, "4": _LOW, "5": _LOW}
_WORDS = {"high": _HIGH, "urgent": _HIGH, "normal": _NORMAL, "low": _LOW, "non-urgent": _LOW}
_SENSITIVITY = {"personal": 1, "private": 2, "company-confidential": 3}


def _importance(headers: Headers) -> tuple[int, int]:
    for name in ("importance", "priority", "x-msmail-priority"):
        word = (_first(headers, name) or "").strip().lower()
        if word in _WORDS:
            return _WORDS[word]
    value = (_first(headers, "x-priority") or "").strip()
    return _X_PRIORITY.get(value[:1], _NORMAL)


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from an odd codec: not worth invalid UTF-8
        return text.encode("utf-8", "replace")


def _utf8_meta(html: str) -> str:
    """The HTML with a ``<meta>`` charset declaration (in its first 4 KB) changed to UTF-8, as written."""
    head = html[:4096]
    if "charset" not in head.lower():
        return html
    return _META_CHARSET.sub(r"\g<1>utf-8", head, count=1) + html[4096:]


# ---------------------------------------------------------------- the last line of defence


def _fallback_root(raw: bytes, received: datetime | None, warnings: _Warnings) -> Storage:
    """An item that still shows the whole message as text, when conversion failed part way."""
    header_end, _ = _header_section(raw, 0, len(raw))
    props = Properties()
    props.set(Tag.MESSAGE_CLASS, _MESSAGE_CLASS)
    props.set(Tag.MESSAGE_FLAGS, MSGFLAG_READ)
    props.set(Tag.STORE_SUPPORT_MASK, STORE_UNICODE_OK)
    props.set(Tag.INTERNET_CODEPAGE, CODEPAGE_UTF8)
    props.set(Tag.TRANSPORT_MESSAGE_HEADERS, _decode_8bit(raw[:header_end])[0])
    props.set(Tag.BODY, _NEWLINE.sub("\r\n", _decode_8bit(raw)[0]))
    for tag in (Tag.CLIENT_SUBMIT_TIME, Tag.MESSAGE_DELIVERY_TIME, Tag.CREATION_TIME, Tag.LAST_MODIFICATION_TIME):
        props.set(tag, received)
    children = props.children(top_level_header(0, 0))
    return Storage("Root Entry", [*children, named_property_storage()], clsid=MESSAGE_CLSID)

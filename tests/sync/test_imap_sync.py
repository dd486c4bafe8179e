"""Folder synchronization from a real Dovecot into the archive."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from postroom.db.archive import Message
from postroom.db.models import Process
from postroom.domain.process import ProcessStatus
from postroom.services.sync import prepare_run
from postroom.sources.imap import ImapSource
from postroom.sources.registry import imap_connection
from postroom.testing.dovecot import Dovecot
from tests.sync.conftest import Mailbox, make_message


def test_full_sync_is_byte_exact_with_the_folder_tree(mailbox: Mailbox) -> None:
    mailbox.create("Projects/Surrey Court")
    mailbox.create("Bücher & Notizen")
    mailbox.append("INBOX", make_message("one"), ("\\Seen",))
    mailbox.append("INBOX", make_message("two"))
    mailbox.append("Projects/Surrey Court", make_message("drawings"), ("\\Flagged",))
    mailbox.append("Bücher & Notizen", make_message("Grüße", "8-bit body: \xe9t\xe9"))
    mailbox.append("INBOX", b"garbage without headers\r\n\r\n\x00\xff\xfe")

    result = mailbox.sync()

    assert result.status is ProcessStatus.SUCCEEDED, mailbox.log_texts(result.request_id)
    assert mailbox.archive() == {k: v for k, v in mailbox.source().items() if v}
    counts = result.mailboxes[mailbox.address].total()
    assert counts.new == 5
    with mailbox.imap() as imap:  # the sync never marks mail read
        imap.select("INBOX", readonly=True)
        _typ, data = imap.uid("FETCH", "1:*", "(FLAGS)")
        assert sum(b"\\Seen" in line for line in data if isinstance(line, bytes)) == 1


def test_incremental_sync_takes_only_what_is_new(mailbox: Mailbox) -> None:
    mailbox.append("INBOX", make_message("first"))
    assert mailbox.sync().mailboxes[mailbox.address].total().new == 1
    mailbox.append("INBOX", make_message("second"))
    second = mailbox.sync()
    assert second.mailboxes[mailbox.address].total().new == 1
    third = mailbox.sync()
    assert third.mailboxes[mailbox.address].total().summary() == "no changes"
    assert mailbox.archive() == mailbox.source()


def test_the_same_message_in_two_folders_is_stored_once(mailbox: Mailbox) -> None:
    mailbox.create("Archive")
    same = make_message("twice")
    mailbox.append("INBOX", same)
    mailbox.append("Archive", same)
    mailbox.sync()
    assert mailbox.stored_messages() == 1
    assert mailbox.archive() == {"INBOX": [same], "Archive": [same]}


def test_a_moved_message_moves_without_a_second_download(mailbox: Mailbox) -> None:
    mailbox.create("Done")
    uid = mailbox.append("INBOX", make_message("to move"))
    mailbox.sync()
    with mailbox.imap() as imap:
        imap.select("INBOX")
        imap.uid("MOVE", str(uid), "Done")
    result = mailbox.sync()
    counts = result.mailboxes[mailbox.address].total()
    assert (counts.moved, counts.new) == (1, 0)
    assert mailbox.archive() == {k: v for k, v in mailbox.source().items() if v}
    assert mailbox.stored_messages() == 1


def test_flags_follow_the_source(mailbox: Mailbox) -> None:
    uid = mailbox.append("INBOX", make_message("flag me"))
    mailbox.sync()
    with mailbox.imap() as imap:
        imap.select("INBOX")
        imap.uid("STORE", str(uid), "+FLAGS", "(\\Answered)")
    assert mailbox.sync().mailboxes[mailbox.address].total().flags == 1


def test_a_renamed_folder_is_renamed_in_the_archive(mailbox: Mailbox) -> None:
    mailbox.create("Old name")
    mailbox.create("Old name/Child")
    mailbox.append("Old name", make_message("parent mail"))
    mailbox.append("Old name/Child", make_message("child mail"))
    mailbox.sync()
    with mailbox.imap() as imap:
        imap.rename('"Old name"', '"New name"')
    result = mailbox.sync()
    report = result.mailboxes[mailbox.address]
    assert ("Old name", "New name") in report.renamed
    assert report.total().new == 0
    assert set(mailbox.archive()) >= {"New name", "New name/Child"}
    assert "Old name" not in mailbox.archive()
    assert mailbox.stored_messages() == 2


def test_a_folder_deleted_at_the_source_stays_archived_and_marked(mailbox: Mailbox) -> None:
    mailbox.create("Temporary")
    mailbox.append("Temporary", make_message("keep me"))
    mailbox.sync()
    with mailbox.imap() as imap:
        imap.delete("Temporary")
    report = mailbox.sync().mailboxes[mailbox.address]
    assert report.deleted_folders == ["Temporary"]
    assert mailbox.stored_messages() == 1


def test_uidvalidity_reset_relinks_instead_of_storing_again(mailbox: Mailbox) -> None:
    for n in range(3):
        mailbox.append("INBOX", make_message(f"m{n}"))
    mailbox.sync()
    mailbox.server.doveadm("mailbox", "update", "-u", mailbox.user, "--uid-validity", "7", "INBOX")
    result = mailbox.sync()
    counts = result.mailboxes[mailbox.address].total()
    assert (counts.relinked, counts.new) == (3, 0)
    assert mailbox.stored_messages() == 3
    assert any("UIDVALIDITY" in t for t in mailbox.log_texts(result.request_id))


def test_delete_immediately_removes_only_verified_archived_mail(mailbox: Mailbox) -> None:
    mailbox.append("INBOX", make_message("a"))
    mailbox.append("INBOX", make_message("b"))
    mailbox.edit(delete_policy={"when": "immediately"})
    dry = mailbox.sync(dry_run_delete=True)
    assert len(dry.mailboxes[mailbox.address].would_delete) == 2
    assert len(mailbox.source()["INBOX"]) == 2
    before = mailbox.archive()
    result = mailbox.sync()
    assert result.mailboxes[mailbox.address].total().deleted_in_source == 2
    assert mailbox.source()["INBOX"] == []
    assert mailbox.stored_messages() == 2
    assert sum(t.startswith("deleted at the source") for t in mailbox.log_texts(result.request_id)) == 2
    with mailbox.runtime.sessions() as session:  # still archived, byte for byte
        shas = session.scalars(select(Message.sha256).where(Message.tenant_id == mailbox.tenant.id)).all()
    assert sorted(mailbox.runtime.blobs.get(mailbox.tenant.id, sha) for sha in shas) == before["INBOX"]


def test_wrong_password_fails_the_process_with_the_servers_words(
    mailbox_factory: Callable[..., Mailbox], dovecot: Dovecot
) -> None:
    box = mailbox_factory(dovecot)
    dovecot.add_user(box.user, "a-different-password")
    result = box.sync()
    assert result.status is ProcessStatus.FAILED
    assert any("rejected the login" in t for t in box.log_texts(result.request_id))


def test_untrusted_certificate_is_refused(mailbox_factory: Callable[..., Mailbox], untrusted_dovecot: Dovecot) -> None:
    box = mailbox_factory(untrusted_dovecot)
    result = box.sync()
    assert result.status is ProcessStatus.FAILED
    assert any("not trusted" in t for t in box.log_texts(result.request_id))


def test_starttls_and_pinned_fingerprint(mailbox_factory: Callable[..., Mailbox], dovecot: Dovecot) -> None:
    box = mailbox_factory(dovecot, security="IMAP-TLS")
    box.append("INBOX", make_message("over starttls"))
    assert box.sync().status is ProcessStatus.SUCCEEDED
    pinned = mailbox_factory(dovecot, tls_trusted_ca=None, tls_fingerprint=dovecot.server_cert_sha256)
    assert pinned.sync().status is ProcessStatus.SUCCEEDED
    wrong = mailbox_factory(dovecot, tls_trusted_ca=None, tls_fingerprint="0" * 64)
    assert wrong.sync().status is ProcessStatus.FAILED


def test_process_log_records_the_run(mailbox: Mailbox) -> None:
    mailbox.append("INBOX", make_message("logged"))
    result = mailbox.sync()
    with mailbox.runtime.sessions() as session:
        parent = session.scalar(select(Process).where(Process.request_id == result.request_id))
        assert parent is not None and parent.type == "folder-sync" and parent.configuration_id == mailbox.profile_id
    texts = mailbox.log_texts(result.request_id)
    assert any(t.startswith("INBOX: 1 new") for t in texts)


def test_a_sync_with_nothing_new_is_one_list_command(mailbox: Mailbox) -> None:
    """With LIST-STATUS every folder's state comes in one round trip; nothing else is asked."""
    mailbox.create("Projects")
    mailbox.create("Projects/Surrey Court")
    mailbox.append("INBOX", make_message("settled"))
    mailbox.sync()
    before = len(mailbox.server.client_lines(mailbox.user))
    assert mailbox.sync().mailboxes[mailbox.address].total().summary() == "no changes"
    commands = [line.split(b" ", 2)[1].upper() for line in mailbox.server.client_lines(mailbox.user)[before:]]
    assert commands.count(b"LIST") == 1
    assert not {b"STATUS", b"SELECT", b"EXAMINE", b"SEARCH", b"FETCH", b"UID"} & set(commands), commands


def test_identical_messages_in_one_batch_are_stored_once_and_listed_twice(mailbox: Mailbox) -> None:
    same = make_message("sent twice", message_id="<dup@test.example>")
    mailbox.append("INBOX", same)
    mailbox.append("INBOX", same)
    assert mailbox.sync().mailboxes[mailbox.address].total().new == 2
    assert mailbox.stored_messages() == 1
    assert mailbox.archive() == {"INBOX": [same, same]}


def test_imaplib_does_not_format_messages_for_a_silent_debug_log(mailbox: Mailbox) -> None:
    run = prepare_run(mailbox.runtime, mailbox.tenant.id, mailbox.profile_id)
    source = ImapSource(imap_connection(run.settings, run.secret, mailbox.address)).connect()
    try:
        assert source.client._imap.debug == 0
    finally:
        source.close()

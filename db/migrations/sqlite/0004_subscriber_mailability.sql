-- Owned by package subscribers, the only package that writes the
-- subscribers table or spells its status values: this view is what others
-- (mailer's campaign snapshot, claims and dry runs) read instead.
--
-- mailable: the subscriber gets campaign mail now (confirmed, still on the
-- list). reason: when not mailable, why, in the subscriber's words for it
-- (unsubscribed, bounced, pending); the delivery log records it for a
-- skipped delivery. An erased subscriber has no row at all.
--
-- `WHERE mailable` keeps the snapshot a search of the subscribers_status
-- index, the same plan as spelling the status out.
CREATE VIEW subscriber_mailability AS
SELECT id, email, name,
       status = 'active' AS mailable,
       CASE WHEN status = 'active' THEN '' ELSE status END AS reason
  FROM subscribers;

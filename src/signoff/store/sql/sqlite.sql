-- Named queries for SQLite. Every name here must also exist in postgresql.sql (a test checks).
-- Times are written in SQLAlchemy's SQLite format (microseconds, UTC) so that they compare as text.
-- Writers run in BEGIN IMMEDIATE transactions, so a claim cannot race another writer.

-- name: db_now
SELECT strftime('%Y-%m-%d %H:%M:%f000', 'now') AS now;

-- fragment: claimable
-- What makes a task claimable by this reviewer, in claim order: shared by claim_task and claim_any.
      AND role IN (SELECT value FROM json_each(:roles))
      -- Roles held on some flows only: not this task role on the flows where the reviewer lacks it.
      AND (flow || '/' || role) NOT IN (SELECT value FROM json_each(:refused))
      -- Queues this reviewer may not work now (missing skills, paused after gold tasks).
      AND (flow || '/' || queue) NOT IN (SELECT value FROM json_each(:blocked))
      AND (assignee IS NULL OR assignee = :reviewer)
      -- Not a task this reviewer passed on, and never two answers on one case from the same person: not after
      -- reviewing it, not while holding a live lease on one of its tasks. SQLite runs a correlated NOT EXISTS as
      -- written: one probe of (reviewer, task) or (reviewer, case) per candidate along the claim-order index, so
      -- a long review history costs nothing (a NOT IN list would be built from the whole history on every claim).
      -- The other lists are short and stay uncorrelated NOT IN, hashed once per claim.
      AND NOT EXISTS (SELECT 1 FROM task_skips s WHERE s.reviewer_id = :reviewer AND s.task_id = tasks.id)
      AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.reviewer_id = :reviewer AND r.case_id = tasks.case_id)
      -- Four eyes: not a case they submitted, nor one they are marked conflicted on.
      AND tasks.case_id NOT IN (SELECT c.id FROM cases c WHERE c.submitted_by = :reviewer_name)
      AND tasks.case_id NOT IN (SELECT k.case_id FROM conflicts k WHERE k.reviewer_id = :reviewer)
      AND tasks.case_id NOT IN (SELECT h.case_id FROM tasks h WHERE h.status = 'leased' AND h.lease_owner = :reviewer
                                AND h.lease_expires_at > strftime('%Y-%m-%d %H:%M:%f000', 'now'))
      AND (status = 'queued' OR lease_expires_at < strftime('%Y-%m-%d %H:%M:%f000', 'now'))
    ORDER BY priority DESC, (due_at IS NULL), due_at, id
    LIMIT 1

-- fragment: lease_it
-- Lease the chosen task by the database clock and return the claim (records.Claim) and the time of it, and no
-- other column: shared by claim_task and claim_any.
UPDATE tasks
SET status = 'leased',
    lease_token = lease_token + 1,
    lease_owner = :reviewer,
    lease_expires_at = strftime('%Y-%m-%d %H:%M:%f000', 'now', '+' || lease_ttl || ' seconds')
WHERE id = (SELECT id FROM candidate)
RETURNING id AS task_id, case_id, flow, queue, kind, lease_token AS token, lease_expires_at AS expires_at,
          strftime('%Y-%m-%d %H:%M:%f000', 'now') AS now;

-- name: claim_any
-- The same across queues (optionally one flow's), in the order of ix_tasks_open_any.
WITH candidate AS (
    SELECT id FROM tasks
    WHERE status <> 'done'
      AND (:flow IS NULL OR flow = :flow)
      AND (:queue IS NULL OR queue = :queue)
      -- include: claimable
)
-- include: lease_it

-- name: extend_lease
UPDATE tasks
SET lease_expires_at = strftime('%Y-%m-%d %H:%M:%f000', 'now', '+' || lease_ttl || ' seconds')
WHERE id = :task_id AND status = 'leased' AND lease_token = :token AND lease_owner = :reviewer
  AND lease_expires_at > strftime('%Y-%m-%d %H:%M:%f000', 'now')
RETURNING lease_expires_at, strftime('%Y-%m-%d %H:%M:%f000', 'now') AS now;

-- name: complete_task
UPDATE tasks
SET status = 'done', completed_at = strftime('%Y-%m-%d %H:%M:%f000', 'now')
WHERE id = :task_id AND status = 'leased' AND lease_token = :token AND lease_owner = :reviewer
  AND lease_expires_at > strftime('%Y-%m-%d %H:%M:%f000', 'now')
RETURNING *;

-- name: release_task
UPDATE tasks
SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL
WHERE id = :task_id AND status = 'leased' AND lease_token = :token AND lease_owner = :reviewer
  AND lease_expires_at > strftime('%Y-%m-%d %H:%M:%f000', 'now')
RETURNING strftime('%Y-%m-%d %H:%M:%f000', 'now') AS now;

-- name: skip_task
-- Back to the queue one priority higher, so the next reviewer sees it sooner.
UPDATE tasks
SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, priority = priority + 1
WHERE id = :task_id AND status = 'leased' AND lease_token = :token AND lease_owner = :reviewer
  AND lease_expires_at > strftime('%Y-%m-%d %H:%M:%f000', 'now')
RETURNING strftime('%Y-%m-%d %H:%M:%f000', 'now') AS now;

-- name: lock_sealer
-- Writers are already serialised by BEGIN IMMEDIATE; the sealer needs no lock of its own.
SELECT 1 AS locked;

-- name: lock_tree
-- Writers are already serialised by BEGIN IMMEDIATE: the Merkle tree's builder needs no lock of its own.
SELECT 1 AS locked;

-- name: settle_cases
-- Writers are already serialised by BEGIN IMMEDIATE: every case id below the highest is final.
SELECT 1 AS settled;

-- name: reserve_cases
-- The write transaction holds the database's one write lock from its BEGIN IMMEDIATE: nothing more to take.
SELECT 1 AS reserved;

-- name: reviewer_profile
-- What a claim must know of its reviewer, in one round trip: the clock, skills, live leases held, open pauses
-- (one row per pause, or one row with NULLs).
SELECT strftime('%Y-%m-%d %H:%M:%f000', 'now') AS now, u.skills,
       (SELECT count(*) FROM tasks h WHERE h.status = 'leased' AND h.lease_owner = u.id
                                      AND h.lease_expires_at > strftime('%Y-%m-%d %H:%M:%f000', 'now')) AS held,
       p.flow AS paused_flow, p.queue AS paused_queue
FROM users u LEFT JOIN reviewer_pauses p ON p.reviewer_id = u.id AND p.lifted_at IS NULL
WHERE u.id = :reviewer;

-- name: append_event
-- One audit event; ``data`` is JSON text.
INSERT INTO audit_events (at, actor, action, entity, entity_id, data)
VALUES (:at, :actor, :action, :entity, :entity_id, :data);

-- name: chain_check
-- The seals from :after + 1 to :upto that the database cannot vouch for, in order, each with the hash and time of
-- the seal numbered before it: ``audit.service`` checks those exactly, in Python. A seal passes here when it
-- follows seal seq - 1, its kept bytes hash to it (``signoff_sha256``:
-- Python's hashlib, registered on the connection, as SQLite has no SHA-256), its event's columns say what the bytes say (their canonical text rebuilt from
-- the stored text: Signoff stores an event's JSON in canonical form; JSON stored otherwise is checked in Python),
-- and its event's time lies where ``_unsound`` wants it (julianday is a double, good to tens of microseconds
-- now: a second of margin). Failing here
-- is no breach yet, only the slow check.
SELECT s.seq, s.event_id, s.prev_hash, s.hash AS seal_hash, s.encoding, s.sealed_at, e.at, e.actor, e.action,
       e.entity, e.entity_id, e.data, e.id AS found_id, s.body, p.hash AS before_hash, p.sealed_at AS before_sealed
FROM audit_seals s
LEFT JOIN audit_seals p ON p.seq = s.seq - 1
LEFT JOIN audit_events e ON e.id = s.event_id
WHERE s.seq > :after AND s.seq <= :upto AND NOT COALESCE(
    p.hash = s.prev_hash AND s.encoding = :encoding
    AND signoff_sha256(s.prev_hash, s.body) = s.hash
    AND s.body = CAST(
        '[' || e.id || ',' || json_quote(replace(e.at, ' ', 'T') || '+00:00') || ',' || json_quote(e.actor) || ','
        || json_quote(e.action) || ',' || json_quote(e.entity) || ',' || json_quote(e.entity_id) || ',' || e.data
        || ']' AS BLOB)
    AND (e.at <= s.sealed_at OR julianday(e.at) <= julianday(s.sealed_at) + (:clock_skew - 1) / 86400.0)
    AND julianday(e.at) >= julianday(p.sealed_at) - (:backdated_after - 1) / 86400.0, 0)
ORDER BY s.seq;

-- fragment: case_hour
-- The hour a case was created in, as the rollups' cells key it: the stored UTC text cut at the hour.
    substr(c.created_at, 1, 13) || ':00:00.000000'

-- Named queries for PostgreSQL. Every name here must also exist in sqlite.sql (a test checks).
-- Lease times come from the database clock (clock_timestamp), never from the caller's.

-- name: db_now
SELECT clock_timestamp() AS now;

-- fragment: claimable
-- What makes a task claimable by this reviewer, in claim order: shared by claim_task and claim_any.
      AND role = ANY(CAST(:roles AS text[]))
      -- Roles held on some flows only: not this task role on the flows where the reviewer lacks it.
      AND NOT ((flow || '/' || role) = ANY(CAST(:refused AS text[])))
      -- Queues this reviewer may not work now (missing skills, paused after gold tasks).
      AND NOT ((flow || '/' || queue) = ANY(CAST(:blocked AS text[])))
      AND (assignee IS NULL OR assignee = :reviewer)
      -- Not a task this reviewer passed on, and never two answers on one case from the same person: not after
      -- reviewing it, not while holding a live lease on one of its tasks. The history checks are correlated
      -- scalar subqueries, which PostgreSQL keeps as per-row SubPlans: an index probe per candidate along the
      -- claim-order index, so a long history costs nothing. (NOT EXISTS would become an anti-join whose plan
      -- follows the statistics; a bare "(SELECT ...) IS NULL" is estimated so selective that the planner scans
      -- and sorts the queue instead; NOT COALESCE(..., false) keeps the estimate neutral.) The other lists are
      -- short and stay uncorrelated NOT IN, hashed once per claim.
      AND NOT COALESCE((SELECT true FROM task_skips s WHERE s.reviewer_id = :reviewer AND s.task_id = tasks.id), false)
      AND NOT COALESCE((SELECT true FROM reviews r WHERE r.reviewer_id = :reviewer AND r.case_id = tasks.case_id LIMIT 1), false)
      -- Four eyes: not a case they submitted, nor one they are marked conflicted on.
      AND tasks.case_id NOT IN (SELECT c.id FROM cases c WHERE c.submitted_by = :reviewer_name)
      AND tasks.case_id NOT IN (SELECT k.case_id FROM conflicts k WHERE k.reviewer_id = :reviewer)
      AND tasks.case_id NOT IN (SELECT h.case_id FROM tasks h WHERE h.status = 'leased' AND h.lease_owner = :reviewer
                                AND h.lease_expires_at > clock_timestamp())
      AND (status = 'queued' OR lease_expires_at < clock_timestamp())
    ORDER BY priority DESC, (due_at IS NULL), due_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED

-- fragment: lease_it
-- Lease the chosen task by the database clock and return the claim (records.Claim) and the time of it, and no
-- other column: shared by claim_task and claim_any.
UPDATE tasks AS t
SET status = 'leased',
    lease_token = t.lease_token + 1,
    lease_owner = :reviewer,
    lease_expires_at = clock_timestamp() + make_interval(secs => t.lease_ttl)
FROM candidate
WHERE t.id = candidate.id
RETURNING t.id AS task_id, t.case_id, t.flow, t.queue, t.kind, t.lease_token AS token,
          t.lease_expires_at AS expires_at, clock_timestamp() AS now;

-- name: claim_any
-- The same across queues (optionally one flow's), in the order of ix_tasks_open_any.
WITH candidate AS (
    SELECT id FROM tasks
    WHERE status <> 'done'
      AND (CAST(:flow AS text) IS NULL OR flow = CAST(:flow AS text))
      AND (CAST(:queue AS text) IS NULL OR queue = CAST(:queue AS text))
      -- include: claimable
)
-- include: lease_it

-- name: extend_lease
UPDATE tasks
SET lease_expires_at = clock_timestamp() + make_interval(secs => lease_ttl)
WHERE id = :task_id AND status = 'leased' AND lease_token = :token AND lease_owner = :reviewer
  AND lease_expires_at > clock_timestamp()
RETURNING lease_expires_at, clock_timestamp() AS now;

-- name: complete_task
UPDATE tasks
SET status = 'done', completed_at = clock_timestamp()
WHERE id = :task_id AND status = 'leased' AND lease_token = :token AND lease_owner = :reviewer
  AND lease_expires_at > clock_timestamp()
RETURNING *;

-- name: release_task
UPDATE tasks
SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL
WHERE id = :task_id AND status = 'leased' AND lease_token = :token AND lease_owner = :reviewer
  AND lease_expires_at > clock_timestamp()
RETURNING clock_timestamp() AS now;

-- name: skip_task
-- Back to the queue one priority higher, so the next reviewer sees it sooner.
UPDATE tasks
SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, priority = priority + 1
WHERE id = :task_id AND status = 'leased' AND lease_token = :token AND lease_owner = :reviewer
  AND lease_expires_at > clock_timestamp()
RETURNING clock_timestamp() AS now;

-- name: lock_sealer
-- One sealer at a time: the chain is appended in the order one process sees events commit.
SELECT pg_try_advisory_xact_lock(7355608) AS locked;

-- name: lock_tree
-- One builder of the Merkle tree and writer of checkpoints at a time (audit.transparency): two would store
-- the same nodes twice.
SELECT pg_try_advisory_xact_lock(7355609) AS locked;

-- name: settle_cases
-- Wait for the writers in flight on cases (a writer that drew a lower id may commit after a higher one), then
-- let them go again at commit: afterwards no case can appear below the highest id seen.
LOCK TABLE cases IN SHARE MODE;

-- name: reserve_cases
-- Before case ids are drawn from the sequence (store.cases.new_case_ids), the lock an INSERT takes: settle_cases
-- (a SHARE lock) then waits for this transaction too, so no id below the highest it sees can commit after it.
LOCK TABLE cases IN ROW EXCLUSIVE MODE;

-- name: reviewer_profile
-- What a claim must know of its reviewer, in one round trip: the clock, skills, live leases held, open pauses
-- (one row per pause, or one row with NULLs).
SELECT clock_timestamp() AS now, u.skills,
       (SELECT count(*) FROM tasks h WHERE h.status = 'leased' AND h.lease_owner = u.id
                                      AND h.lease_expires_at > clock_timestamp()) AS held,
       p.flow AS paused_flow, p.queue AS paused_queue
FROM users u LEFT JOIN reviewer_pauses p ON p.reviewer_id = u.id AND p.lifted_at IS NULL
WHERE u.id = :reviewer;

-- name: append_event
-- One audit event; ``data`` is JSON text.
INSERT INTO audit_events (at, actor, action, entity, entity_id, data)
VALUES (:at, :actor, :action, :entity, :entity_id, CAST(:data AS jsonb));

-- name: chain_check
-- The seals from :after + 1 to :upto that the database cannot vouch for, in order, each with the hash and time of
-- the seal numbered before it: ``audit.service`` checks those exactly, in Python. A seal passes here when it
-- follows seal seq - 1, its kept bytes hash to it (``sha256``), its event's time lies where ``_unsound`` wants it,
-- and its event's columns say what the bytes say: the bytes start with the event's id, time and text columns as
-- canonical JSON writes them, and the rest, read as jsonb, prints as the event's data prints (parsing the bytes
-- whole cost 2.5 times as much). Only bytes that hash to their seal are read as text: the sealer wrote them, in
-- UTF-8. Failing here is no breach yet, only the slow check.
SELECT seq, event_id, prev_hash, seal_hash, encoding, sealed_at, at, actor, action, entity, entity_id, data,
       found_id, body, before_hash, before_sealed
FROM (
    SELECT s.seq, s.event_id, s.prev_hash, s.hash AS seal_hash, s.encoding, s.sealed_at, e.at, e.actor, e.action,
           e.entity, e.entity_id, e.data, e.id AS found_id, s.body, p.hash AS before_hash,
           p.sealed_at AS before_sealed, encode(sha256(convert_to(s.prev_hash, 'UTF8') || s.body), 'hex') AS digest,
           convert_to(
               '[' || e.id || ',"' || to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"') || '",'
               || to_json(e.actor)::text || ',' || to_json(e.action)::text || ',' || to_json(e.entity)::text || ','
               || to_json(e.entity_id)::text || ',',
               'UTF8'
           ) AS head
    FROM audit_seals s
    LEFT JOIN audit_seals p ON p.seq = s.seq - 1
    LEFT JOIN audit_events e ON e.id = s.event_id
    WHERE s.seq > :after AND s.seq <= :upto
    ORDER BY s.seq
    OFFSET 0  -- each row's digest and head computed once, not once per use below
) c
WHERE NOT COALESCE(
    c.before_hash = c.prev_hash AND c.encoding = :encoding
    AND c.at >= c.before_sealed - make_interval(secs => :backdated_after)
    AND c.at <= c.sealed_at + make_interval(secs => :clock_skew)
    AND CASE WHEN c.digest = c.seal_hash AND substring(c.body FOR octet_length(c.head)) = c.head
             AND get_byte(c.body, octet_length(c.body) - 1) = 93 THEN  -- "]"
        convert_from(
            substring(c.body FROM octet_length(c.head) + 1 FOR octet_length(c.body) - octet_length(c.head) - 1), 'UTF8'
        )::jsonb::text = c.data::text
    END, false)
ORDER BY seq;

-- fragment: case_hour
-- The hour a case was created in (UTC), as the rollups' cells key it.
    date_trunc('hour', c.created_at, 'UTC')

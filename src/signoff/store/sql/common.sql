-- Named queries that both databases run as written, loaded after each dialect's own file (which may not
-- redefine them, and whose fragments they may include). The statements of every claim and submit besides the lease
-- changes: named queries run on the driver's cursor, so these cost what the database takes to run them and little
-- more.

-- name: claim_task
-- Claims the most urgent task of one queue (priority, then earliest due, then oldest), new or with an expired
-- lease, in one statement; ix_tasks_open serves it in order. What is claimable and how it is leased are each
-- dialect's fragments (on PostgreSQL, SKIP LOCKED lets concurrent reviewers pass over rows another transaction is
-- claiming instead of waiting on them; SQLite's writers take turns).
WITH candidate AS (
    SELECT id FROM tasks
    WHERE status <> 'done'
      AND flow = :flow AND queue = :queue
      -- include: claimable
)
-- include: lease_it

-- name: claim_this
-- Claims one named task of one flow for this reviewer, on the same terms as any claim (its role, the four eyes,
-- skills, pauses, skips, assignment; new or with an expired lease): a review recorded from outside the web UI
-- (``review.service.record_external``) leases its task this way before it completes it. No row: not claimable.
WITH candidate AS (
    SELECT id FROM tasks
    WHERE status <> 'done'
      AND id = :task_id AND flow = :flow
      -- include: claimable
)
-- include: lease_it

-- name: start_lease
-- The history row of a new lease.
INSERT INTO leases (task_id, token, reviewer_id, acquired_at, expires_at)
VALUES (:task_id, :token, :reviewer, :now, :expires_at);

-- name: close_expired_lease
-- A lease still open on a task that is leased again has expired.
UPDATE leases SET ended_at = :now, end_reason = 'expired'
WHERE task_id = :task_id AND ended_at IS NULL AND token < :token;

-- name: end_lease
UPDATE leases SET ended_at = :now, end_reason = :reason
WHERE task_id = :task_id AND token = :token;

-- name: insert_review
INSERT INTO reviews (task_id, case_id, reviewer_id, lease_token, label, comment, created_at)
VALUES (:task_id, :case_id, :reviewer_id, :lease_token, :label, :comment, :created_at)
RETURNING id;

-- name: insert_decision
INSERT INTO decisions (case_id, label, decided_by, model_version_id, review_id, created_at)
VALUES (:case_id, :label, :decided_by, :model_version_id, :review_id, :now);

-- name: mark_decided
UPDATE cases SET status = 'decided', decided_at = :now WHERE id = :case_id;

-- name: chain
-- The seals numbered after :after up to :upto in order, each with the event it seals (NULL columns if the event was
-- deleted): what every check of the chain reads, streamed (``Database.stream``) because it reads every event there is.
SELECT s.seq, s.event_id, s.prev_hash, s.hash AS seal_hash, s.encoding, s.sealed_at,
       e.at, e.actor, e.action, e.entity, e.entity_id, e.data, e.id AS found_id, s.body
FROM audit_seals s LEFT JOIN audit_events e ON e.id = s.event_id
WHERE s.seq > :after AND s.seq <= :upto
ORDER BY s.seq;

-- name: count_login_failure
-- One more failed login for a name or an address, counted from 1 again when the last one is older than
-- :forget_before; one statement, so that server processes failing the same name at once each count.
INSERT INTO login_throttle (scope, subject, failures, last_failure_at)
VALUES (:scope, :subject, 1, :now)
ON CONFLICT (scope, subject) DO UPDATE SET
    failures = CASE WHEN login_throttle.last_failure_at < :forget_before THEN 1 ELSE login_throttle.failures + 1 END,
    last_failure_at = excluded.last_failure_at
RETURNING failures;

-- name: enqueue_retrain
-- A new queued retrain of a flow, unless one is already queued or running (the partial unique index), or another
-- retrain was requested since the caller last looked (its newest run id is no longer :last_id): two workers that
-- both found a retrain due start one.
INSERT INTO retrain_runs (flow, status, attempt, requested_by, created_at)
SELECT CAST(:flow AS VARCHAR(63)), 'queued', 0, :requested_by, :now
WHERE COALESCE((SELECT MAX(id) FROM retrain_runs WHERE flow = :flow), 0) = :last_id
ON CONFLICT (flow) WHERE status IN ('queued', 'running') DO NOTHING
RETURNING id;

-- name: claim_retrain
-- Take a queued run, or a running one whose worker stopped beating before :stale_before; the new attempt number
-- fences out the old worker.
UPDATE retrain_runs
SET status = 'running', attempt = attempt + 1, started_at = :now, heartbeat_at = :now
WHERE id = :id AND (status = 'queued' OR (status = 'running' AND heartbeat_at < :stale_before))
RETURNING id, flow, attempt, step, requested_by, created_at, training_set_id, model_version_id, mlflow_run_id;

-- name: fold_versions
-- The flow's cases (gold left out) with an id in (:above, :upto], counted per hour of creation by the model
-- version whose prediction their route acted on and whether the route flagged them (kind 'model', key
-- "<version id><:sep><0 or 1>"), and by the policy version that routed them (kind 'policy'), added to the cells
-- of :scope. The bound is on the primary key, so the statement walks the ids of the chunk whatever the statistics
-- say; the database groups and adds, and no case comes back.
INSERT INTO case_cells (flow, scope, hour, kind, key, count, total)
SELECT c.flow, CAST(:scope AS VARCHAR(80)),
-- include: case_hour
    , v.kind,
    CASE v.kind
        WHEN 'model' THEN CAST(p.model_version_id AS VARCHAR(20)) || CAST(:sep AS VARCHAR(1))
            || CASE WHEN r.verdict = 'review' THEN '1' ELSE '0' END
        ELSE r.policy_version
    END,
    COUNT(*), 0
FROM cases c
JOIN routes r ON r.case_id = c.id
JOIN predictions p ON p.id = r.prediction_id
CROSS JOIN (SELECT 'model' AS kind UNION ALL SELECT 'policy' AS kind) v
WHERE c.id > :above AND c.id <= :upto AND c.flow = :flow AND c.status <> 'gold'
GROUP BY 1, 3, 4, 5
ON CONFLICT (flow, scope, hour, kind, key) DO UPDATE SET count = case_cells.count + excluded.count;

-- name: queue_pairs
-- Every (flow, queue) that has tasks, found by walking the distinct prefixes of ix_tasks_flow_queue_completed: a
-- few index probes a pair, however many tasks each holds. (The completions of each are counted by a range of the
-- same index, one statement a pair: in one statement with this one, PostgreSQL's estimate for the recursive rows
-- made the plan look costly enough to compile it with JIT, which took a second.)
WITH RECURSIVE flows(flow) AS (
    SELECT MIN(flow) FROM tasks
    UNION ALL
    SELECT (SELECT MIN(t.flow) FROM tasks t WHERE t.flow > flows.flow) FROM flows WHERE flows.flow IS NOT NULL
), pairs(flow, queue) AS (
    SELECT flows.flow, (SELECT MIN(t.queue) FROM tasks t WHERE t.flow = flows.flow) FROM flows
    WHERE flows.flow IS NOT NULL
    UNION ALL
    SELECT pairs.flow, (SELECT MIN(t.queue) FROM tasks t WHERE t.flow = pairs.flow AND t.queue > pairs.queue)
    FROM pairs WHERE pairs.queue IS NOT NULL
)
SELECT pairs.flow, pairs.queue
FROM pairs
WHERE pairs.queue IS NOT NULL
ORDER BY pairs.flow, pairs.queue;

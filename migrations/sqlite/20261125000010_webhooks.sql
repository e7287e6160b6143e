-- Webhooks: a URL that gets every event of one topic, in seq order. `position` is the last
-- seq the endpoint acknowledged; it moves only after a 2xx, so delivery survives a restart.
-- Times the workers compare (`next_attempt_ms`, `lease_until_ms`) are unix milliseconds, the
-- same on both databases. One node at a time delivers a webhook: the one holding its lease.
CREATE TABLE webhooks (
    id              BLOB PRIMARY KEY NOT NULL,
    owner_id        BLOB NOT NULL REFERENCES users (id),
    url             TEXT NOT NULL,
    topic           TEXT NOT NULL,
    secret          TEXT NOT NULL,
    position        INTEGER NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_attempt_at TEXT,
    next_attempt_ms INTEGER,
    lease_owner     TEXT,
    lease_until_ms  INTEGER,
    created_at      TEXT NOT NULL
);
CREATE INDEX webhooks_by_owner ON webhooks (owner_id, created_at);

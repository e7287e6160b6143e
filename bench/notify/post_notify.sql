-- One answer posted exactly as Store::post_answer does on Postgres (with its pg_notify),
-- to a random one of the 50 questions that run.sh creates.
\set n random(1, 50)
WITH q AS (UPDATE questions SET answer_count = answer_count + 1
           WHERE id = md5(:n::text)::uuid RETURNING answer_count),
     ins AS (INSERT INTO answers (id, question_id, seq, body, author, created_at)
             SELECT gen_random_uuid(), md5(:n::text)::uuid, q.answer_count, 'bench answer', 'bench', now()
             FROM q RETURNING id, seq)
SELECT ins.seq FROM ins CROSS JOIN LATERAL (
    SELECT pg_notify('qa_hub_answers', json_build_object(
        'question_id', md5(:n::text)::uuid, 'seq', ins.seq, 'answer_id', ins.id)::text)) AS n;

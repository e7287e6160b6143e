-- The same post without the NOTIFY: the baseline that shows what NOTIFY costs.
\set n random(1, 50)
WITH q AS (UPDATE questions SET answer_count = answer_count + 1
           WHERE id = md5(:n::text)::uuid RETURNING answer_count),
     ins AS (INSERT INTO answers (id, question_id, seq, body, author, created_at)
             SELECT gen_random_uuid(), md5(:n::text)::uuid, q.answer_count, 'bench answer', 'bench', now()
             FROM q RETURNING id, seq)
SELECT ins.seq FROM ins;

-- lms-example.sql — the database of a small education platform, for trying
-- rightsdesk's data map (deploy/datamaps/lms-example.yaml) and for its tests.
--
-- Written to load unchanged into PostgreSQL and into MariaDB/MySQL:
--   psql "$LMS_DATABASE_URL" -f deploy/datamaps/lms-example.sql
--   mariadb lms < deploy/datamaps/lms-example.sql
-- (explicit ids, no serial or AUTO_INCREMENT, types both servers know).
--
-- Four students; aigerim@example.kz has rows in every table, some reached
-- only through her student id (enrolments, payments, posts...) and one,
-- her certificate, only through her enrolment.

CREATE TABLE students (
  id INTEGER PRIMARY KEY,
  login VARCHAR(64) NOT NULL UNIQUE,
  email VARCHAR(254) NOT NULL,
  phone VARCHAR(20),
  full_name VARCHAR(200) NOT NULL,
  birth_date DATE,
  city VARCHAR(100),
  processing_restricted BOOLEAN NOT NULL DEFAULT FALSE,
  marketing_consent BOOLEAN NOT NULL DEFAULT TRUE,
  created_at TIMESTAMP NOT NULL
);

CREATE TABLE guardians (
  id INTEGER PRIMARY KEY,
  student_id INTEGER NOT NULL REFERENCES students (id),
  full_name VARCHAR(200) NOT NULL,
  phone VARCHAR(20),
  relationship VARCHAR(20) NOT NULL
);

-- Courses hold no personal data: the map leaves them out.
CREATE TABLE courses (
  id INTEGER PRIMARY KEY,
  title VARCHAR(200) NOT NULL
);

CREATE TABLE enrolments (
  id INTEGER PRIMARY KEY,
  student_id INTEGER NOT NULL REFERENCES students (id),
  course_id INTEGER NOT NULL REFERENCES courses (id),
  enrolled_at TIMESTAMP NOT NULL,
  grade VARCHAR(5)
);

CREATE TABLE certificates (
  id INTEGER PRIMARY KEY,
  enrolment_id INTEGER NOT NULL REFERENCES enrolments (id),
  number VARCHAR(40) NOT NULL,
  issued_at DATE NOT NULL
);

CREATE TABLE payments (
  id INTEGER PRIMARY KEY,
  student_id INTEGER NOT NULL REFERENCES students (id),
  amount NUMERIC(12, 2) NOT NULL,
  paid_at TIMESTAMP NOT NULL,
  payer_name VARCHAR(200) NOT NULL,
  card_last4 VARCHAR(4)
);

CREATE TABLE forum_posts (
  id INTEGER PRIMARY KEY,
  student_id INTEGER NOT NULL REFERENCES students (id),
  course_id INTEGER NOT NULL REFERENCES courses (id),
  title VARCHAR(200) NOT NULL,
  body TEXT NOT NULL,
  posted_at TIMESTAMP NOT NULL
);

CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  sender_id INTEGER NOT NULL REFERENCES students (id),
  recipient_id INTEGER NOT NULL REFERENCES students (id),
  body TEXT NOT NULL,
  sent_at TIMESTAMP NOT NULL
);

CREATE TABLE login_log (
  id INTEGER PRIMARY KEY,
  student_id INTEGER NOT NULL REFERENCES students (id),
  ip_address VARCHAR(45) NOT NULL,
  user_agent VARCHAR(300),
  logged_at TIMESTAMP NOT NULL
);

INSERT INTO students (id, login, email, phone, full_name, birth_date, city, processing_restricted, marketing_consent, created_at) VALUES
  (1, 'aigerim.n', 'Aigerim@Example.kz', '+7 701 123 45 67', 'Айгерім Нұрланқызы', '2007-04-12', 'Алматы', FALSE, TRUE, '2024-09-01 09:00:00'),
  (2, 'daniyar.k', 'daniyar@example.kz', '8 (702) 555-10-20', 'Данияр Кенжебеков', '2006-11-02', 'Астана', FALSE, TRUE, '2024-09-01 09:05:00'),
  (3, 'olga.p', 'olga.petrova@example.ru', NULL, 'Ольга Петрова', '2005-01-30', 'Караганда', FALSE, FALSE, '2024-09-02 10:00:00'),
  (4, 'yerlan.s', 'yerlan@example.kz', '+7 705 000 11 22', 'Ерлан Серікұлы', NULL, NULL, FALSE, TRUE, '2025-01-15 12:30:00');

INSERT INTO guardians (id, student_id, full_name, phone, relationship) VALUES
  (1, 1, 'Нұрлан Әбенов', '+7 701 765 43 21', 'parent'),
  (2, 4, 'Сәуле Серікова', '+7 705 999 88 77', 'parent');

INSERT INTO courses (id, title) VALUES
  (1, 'Математика для старшеклассников'),
  (2, 'Python: первые шаги'),
  (3, 'Қазақ әдебиеті');

INSERT INTO enrolments (id, student_id, course_id, enrolled_at, grade) VALUES
  (1, 1, 1, '2024-09-02 08:00:00', 'A'),
  (2, 1, 2, '2025-02-01 08:00:00', NULL),
  (3, 2, 1, '2024-09-02 08:10:00', 'B'),
  (4, 3, 3, '2024-09-03 11:00:00', 'A'),
  (5, 4, 2, '2025-01-16 09:00:00', NULL);

INSERT INTO certificates (id, enrolment_id, number, issued_at) VALUES
  (1, 1, 'LMS-2025-000117', '2025-06-20'),
  (2, 3, 'LMS-2025-000118', '2025-06-20'),
  (3, 4, 'LMS-2025-000131', '2025-06-25');

INSERT INTO payments (id, student_id, amount, paid_at, payer_name, card_last4) VALUES
  (1, 1, 45000.00, '2024-09-02 08:05:00', 'Нұрлан Әбенов', '4417'),
  (2, 1, 52000.00, '2025-02-01 08:02:00', 'Нұрлан Әбенов', '4417'),
  (3, 2, 45000.00, '2024-09-02 08:12:00', 'Данияр Кенжебеков', '0032'),
  (4, 4, 52000.00, '2025-01-16 09:02:00', 'Сәуле Серікова', '7781');

INSERT INTO forum_posts (id, student_id, course_id, title, body, posted_at) VALUES
  (1, 1, 1, 'Задача 14', 'Не понимаю, как решать задачу 14 из второго модуля.', '2024-10-05 19:20:00'),
  (2, 2, 1, 'Re: Задача 14', 'Сначала найди дискриминант.', '2024-10-05 19:45:00'),
  (3, 1, 2, 'Цикл for', 'Почему range(5) не включает 5?', '2025-02-10 21:00:00'),
  (4, 3, 3, 'Абай', 'Қара сөздерін оқып шықтым.', '2024-11-11 16:00:00');

INSERT INTO messages (id, sender_id, recipient_id, body, sent_at) VALUES
  (1, 1, 2, 'Спасибо за подсказку!', '2024-10-05 20:00:00'),
  (2, 2, 1, 'Пожалуйста :)', '2024-10-05 20:03:00'),
  (3, 3, 4, 'Ерлан, ты идёшь на вебинар?', '2025-01-20 18:00:00');

INSERT INTO login_log (id, student_id, ip_address, user_agent, logged_at) VALUES
  (1, 1, '95.56.12.34', 'Mozilla/5.0 (Android 14)', '2025-02-10 20:55:00'),
  (2, 1, '95.56.12.34', 'Mozilla/5.0 (Android 14)', '2025-02-11 07:30:00'),
  (3, 2, '2.134.5.6', 'Mozilla/5.0 (Windows NT 10.0)', '2025-02-11 09:00:00'),
  (4, 4, '37.99.1.2', NULL, '2025-02-12 10:15:00');

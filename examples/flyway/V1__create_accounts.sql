CREATE TABLE accounts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email      varchar(100) NOT NULL,
    created_at timestamp NOT NULL DEFAULT now()
);

-- One database per service, as in production.
CREATE DATABASE registry;
CREATE DATABASE monitor;

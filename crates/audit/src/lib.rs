//! `mailtrust audit`: checks, findings, and the catalogue that names them.

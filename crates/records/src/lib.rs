//! Pure parsers and linters for mail DNS records. No I/O here: bytes in, typed values out.

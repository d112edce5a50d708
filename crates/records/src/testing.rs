//! Test helpers: deterministic random inputs for the "never panics" tests (a fixed-seed xorshift
//! generator, so a failure reproduces on every machine without a fuzzing crate), and the
//! diagnostic kinds of a record as the JSON evidence names them.

/// The `kind` of each diagnostic, as serialised into JSON evidence, in order.
pub(crate) fn kinds<T: serde::Serialize>(diagnostics: &[T]) -> Vec<String> {
    diagnostics
        .iter()
        .map(|d| {
            serde_json::to_value(d)
                .ok()
                .and_then(|json| json.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
                .unwrap_or_default()
        })
        .collect()
}

pub(crate) struct Inputs {
    state: u64,
}

impl Inputs {
    pub(crate) fn new(seed: u64) -> Self {
        Inputs { state: seed | 1 }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// A random string: mostly characters from `alphabet`, sometimes any byte, sometimes a
    /// fragment of one of `seeds`, so that inputs reach deep into the parser.
    pub(crate) fn bytes(&mut self, alphabet: &[u8], seeds: &[&str]) -> Vec<u8> {
        let len = self.below(120);
        let mut out = Vec::with_capacity(len);
        if !seeds.is_empty() && self.below(2) == 0 {
            let seed = seeds.get(self.below(seeds.len())).copied().unwrap_or("");
            let cut = self.below(seed.len() + 1);
            out.extend_from_slice(seed.as_bytes().get(..cut).unwrap_or_default());
        }
        while out.len() < len {
            match self.below(10) {
                0 => out.push((self.next_u64() & 0xff) as u8),
                1 if !seeds.is_empty() => {
                    let seed = seeds.get(self.below(seeds.len())).copied().unwrap_or("");
                    let start = self.below(seed.len() + 1);
                    let end = start + self.below(seed.len() - start + 1);
                    out.extend_from_slice(seed.as_bytes().get(start..end).unwrap_or_default());
                }
                _ => {
                    if let Some(&c) = alphabet.get(self.below(alphabet.len())) {
                        out.push(c);
                    }
                }
            }
        }
        out
    }
}

/// Characters that mean something to one of the record grammars.
pub(crate) const ALPHABET: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \t\r\n;:=,./-+~?!%{}_*@";

//! Command-line arguments.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;
use mailtrust_dns::{QueryType, Upstream};

/// mailtrust checks and runs the parts that make email trustworthy (NIST SP 800-177): SPF, DKIM
/// and DMARC, DNSSEC under all of it, TLS on every hop, S/MIME, and the keys behind them.
#[derive(Debug, Parser)]
#[command(name = "mailtrust", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v, -vv, -vvv). MAILTRUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check domains against NIST SP 800-177 and say exactly what to fix.
    ///
    /// Exit status: 0 nothing failed; 1 something failed; 2 usage or runtime error; 3 nothing
    /// failed but something was inconclusive (a DNS outage is never reported as a missing record).
    Audit(Box<AuditArgs>),
    /// Try mailtrust without internet: bring the lab up, audit its scenario domains, tear it down.
    ///
    /// Prints a table (domain × area) and the three findings to fix first; exit 0 when the demo
    /// ran, whatever it found. Needs root (network namespaces) and the lab's packages
    /// (`bin/setup lab` installs them).
    Demo {
        /// Domains to audit (default: a good example where every check passes, an unsigned, two
        /// bogus, a null-MX and a lame domain of the lab, and mail servers with an expired
        /// certificate, no STARTTLS and a TLSA mismatch).
        domains: Vec<String>,
        /// Every finding with its evidence and fix, as `mailtrust audit` prints them, instead of
        /// the overview (a table of domains and areas, and the three findings to fix first).
        #[arg(long, conflicts_with = "json")]
        details: bool,
        /// Print the audit's JSON document instead of the overview.
        #[arg(long)]
        json: bool,
    },
    /// Look at DNS the way mailtrust sees it: records, outcome, DNSSEC status and chain of trust.
    #[command(subcommand)]
    Dns(DnsCommand),
    /// Manage DKIM keys (the CKMS): generate, publish in DNS, activate once visible,
    /// deactivate, revoke, destroy; every step in a hash-chained audit log.
    ///
    /// Exit status: 0 done; 1 refused (an illegal step, a record not yet visible, a DNS server
    /// that said no); 2 usage or setup error (wrong KEK, damaged store); 3 a server did not answer.
    Keys(Box<KeysArgs>),
    /// Verify DKIM signatures as a receiver does (keys fetched through the validating
    /// resolver, RFC 8301 enforced).
    #[command(subcommand)]
    Dkim(DkimCommand),
    /// Run the lab: real DNS servers in a private network namespace, for tests and demos.
    #[command(subcommand)]
    Lab(LabCommand),
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Domains to audit (normalised: lower case, A-labels, no trailing dot).
    pub domains: Vec<String>,
    /// Read domains from FILE (one per line, or a CSV with a `domain` column); `-` for stdin.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// DKIM selector to check besides the discovered ones; repeatable.
    #[arg(long = "selector", value_name = "SEL")]
    pub selectors: Vec<String>,
    /// Also check, for each audited domain, the selectors a `mailtrust keys` store knows:
    /// its published, active and deactivated keys and its delegated selectors (Rec 4-10).
    /// Needs no KEK: only public data is read.
    #[arg(long, value_name = "PATH")]
    pub key_store: Option<PathBuf>,
    /// Address whose SMIMEA and OPENPGPKEY records are checked; repeatable.
    #[arg(long = "address", value_name = "USER@DOMAIN")]
    pub addresses: Vec<String>,
    /// One JSON document for the whole run.
    #[arg(long, group = "format")]
    pub json: bool,
    /// One JSON object per domain, streamed as results finish.
    #[arg(long, group = "format")]
    pub jsonl: bool,
    /// One CSV row per domain: worst status per check id, plus counts.
    #[arg(long, group = "format")]
    pub csv: bool,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Domains audited at once.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,
    /// Skip network probes of mail servers (DNS checks only).
    #[arg(long)]
    pub dns_only: bool,
    #[command(flatten)]
    pub probe: ProbeArgs,
    /// Run only these areas (comma-separated): dnssec, mx, spf, dkim, dmarc, transport, access,
    /// e2e, summary.
    #[arg(long, value_name = "AREA,...", value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(mailtrust_audit::AREAS))]
    pub only: Vec<String>,
    /// List the checks (id, area, title, references) instead of auditing.
    #[arg(long)]
    pub list_checks: bool,
    /// With --list-checks: print the catalogue as the Markdown of docs/checks.md.
    #[arg(long, requires = "list_checks")]
    pub markdown: bool,
    #[command(flatten)]
    pub resolver: ResolverArgs,
}

/// How mail servers are probed (SMTP on every MX address, MTA-STS and TLS-RPT over HTTPS, IMAP,
/// POP3 and submission).
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// A mail access host to probe on ports 143, 993, 110, 995, 587 and 465, besides those its
    /// domain publishes in SRV records (RFC 6186/8314); repeatable.
    #[arg(long = "mailhost", value_name = "HOST")]
    pub mailhosts: Vec<String>,
    /// Trust only the CA certificates in this PEM file (instead of the system's roots) when
    /// grading certificates; for private CAs and the lab.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Seconds to wait for a TCP connection.
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    pub connect_timeout: f64,
    /// Seconds to wait for each reply (greeting, EHLO, STARTTLS, handshake, HTTP).
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub probe_timeout: f64,
    /// Connections at a time to one IP address.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub per_ip: u32,
    /// Do not offer old protocol versions and weak suites (saves 4-5 connections per service;
    /// smtp.tls-version then only sees what the handshake negotiated).
    #[arg(long)]
    pub no_scans: bool,
    /// The name sent in EHLO.
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    pub helo: String,
}

#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// Look up NAME TYPE, validate it from the trust anchor down, and show how it was decided.
    ///
    /// Exit status: 0 an answer (records, NXDOMAIN or NODATA) that is not bogus; 1 the answer is
    /// bogus; 2 usage or setup error; 3 no usable answer (timeout, SERVFAIL, REFUSED).
    Lookup(LookupArgs),
    /// Change a zone on its primary server with an RFC 2136 update signed with TSIG: replace a
    /// TXT record (a DKIM key, an SPF or DMARC policy) or delete an RRset.
    ///
    /// Exit status: 0 the server applied it (its signed answer verified); 1 the server refused
    /// it (NOTAUTH: wrong key; REFUSED: not allowed); 2 usage error; 3 no answer.
    Update(UpdateArgs),
    /// Ask every authoritative server of NAME's zone directly what it serves for NAME TYPE:
    /// is a new record visible everywhere yet?
    ///
    /// Exit status: 0 every server answers the same, authoritatively; 1 they differ (or one is
    /// lame); 2 usage error; 3 a server or the zone could not be reached.
    Propagation(PropagationArgs),
}

#[derive(Debug, Subcommand)]
pub enum DkimCommand {
    /// Verify every DKIM-Signature of a message (RFC 5322, from FILE or stdin).
    ///
    /// Exit status: 0 at least one signature passed; 1 none passed (or there is none);
    /// 2 usage error or unreadable message; 3 none passed and a key could not be fetched
    /// (timeout, SERVFAIL, bogus DNSSEC): try again later.
    Verify(DkimVerifyArgs),
}

#[derive(Debug, Args)]
pub struct DkimVerifyArgs {
    /// The message; `-` or nothing reads stdin.
    pub file: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub resolver: ResolverArgs,
}

#[derive(Debug, Args)]
pub struct PropagationArgs {
    pub name: String,
    #[arg(value_parser = parse_qtype)]
    pub qtype: QueryType,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub resolver: ResolverArgs,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The zone to update (its apex, e.g. example.org).
    pub zone: String,
    /// The zone's primary server, ADDR or ADDR:PORT (TCP).
    #[arg(long, value_name = "ADDR[:PORT]")]
    pub server: String,
    /// The TSIG key in a file only you can read (mode 0600): one line
    /// `[hmac-sha256:]NAME:BASE64SECRET`, or Knot's `keymgr -t NAME` output as it is.
    #[arg(
        long,
        value_name = "FILE",
        env = "MAILTRUST_TSIG_FILE",
        conflicts_with = "key"
    )]
    pub key_file: Option<PathBuf>,
    /// The TSIG key itself, `[hmac-sha256:]NAME:BASE64SECRET` as nsupdate -y takes it, or
    /// MAILTRUST_TSIG_KEY. On the command line it is visible to `ps` and kept in shell
    /// history: prefer --key-file.
    #[arg(
        long,
        value_name = "KEY",
        env = "MAILTRUST_TSIG_KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,
    /// Replace the TXT records at NAME by one record of TEXT (split into 255-byte strings);
    /// repeatable. NAME is relative to the zone unless it ends with a dot.
    #[arg(long = "txt", value_names = ["NAME", "TEXT"], num_args = 2)]
    pub txt: Vec<String>,
    /// Delete the RRset of TYPE at NAME; repeatable.
    #[arg(long = "delete", value_names = ["NAME", "TYPE"], num_args = 2)]
    pub delete: Vec<String>,
    /// TTL of added records, in seconds.
    #[arg(long, default_value_t = 300)]
    pub ttl: u32,
    /// Seconds to wait for the server's answer.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
}

#[derive(Debug, Args)]
pub struct LookupArgs {
    /// The name to look up (IDNs are converted to A-labels).
    pub name: String,
    /// Record type: A AAAA MX TXT CNAME NS SOA DS DNSKEY TLSA SMIMEA OPENPGPKEY PTR SRV.
    #[arg(value_parser = parse_qtype)]
    pub qtype: QueryType,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub resolver: ResolverArgs,
}

fn parse_qtype(s: &str) -> Result<QueryType, String> {
    s.parse::<QueryType>().map_err(|e| e.to_string())
}

/// How mailtrust reaches and trusts the DNS; shared by every command that resolves.
#[derive(Debug, Args, Clone)]
pub struct ResolverArgs {
    /// Upstream recursive resolver, ADDR or ADDR:PORT ([v6]:PORT); repeatable. Default: the
    /// system's (/etc/resolv.conf). Queries carry the CD bit, so a validating resolver is fine.
    #[arg(long = "resolver", value_name = "ADDR[:PORT]")]
    pub resolvers: Vec<Upstream>,
    /// Trust anchors: DNSKEY and/or DS records in zone-file syntax. Replaces the IANA root KSKs.
    #[arg(long, value_name = "FILE")]
    pub trust_anchor: Option<PathBuf>,
    /// Seconds to wait for one answer from one upstream.
    #[arg(long, value_name = "SECS", default_value_t = 3.0)]
    pub timeout: f64,
    /// Times each query is sent in all (1 = no retry).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub attempts: u8,
    /// Upper bound in seconds for one whole lookup, validation included.
    #[arg(long, value_name = "SECS", default_value_t = 20.0)]
    pub deadline: f64,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Start the lab (Knot DNS root, test. and scenario zones; Unbound resolvers).
    Up {
        /// Directory for the lab's state: configs, keys, zones, PIDs, logs. Without it, a fresh
        /// directory with an unpredictable name is made in the temporary directory (printed,
        /// and `state` in the JSON). The lab runs as root: a DIR that another user owns or
        /// could replace (under a directory writable by others without the sticky bit) is
        /// refused; a missing one is created.
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
        /// Extra scenario directories (one zone file per scenario domain); repeatable.
        #[arg(long = "scenarios", value_name = "DIR")]
        scenarios: Vec<PathBuf>,
        /// Print where things are as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop everything a lab started (works after a crash of `up` too) and remove its files
    /// (and the state directory, if `up` made it).
    Down {
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        /// Keep logs, configurations and keys for a post-mortem.
        #[arg(long)]
        keep: bool,
    },
    /// Print the JSON of a running lab.
    Status {
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
    },
    /// Run a command inside the lab's network namespace.
    Exec {
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        /// The command and its arguments (after `--`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<OsString>,
    },
    /// A lame name server: reads DNS queries and never answers (used by the lab).
    #[command(hide = true)]
    ServeLame {
        #[arg(long = "listen", value_name = "ADDR:PORT", required = true)]
        listen: Vec<String>,
    },
    /// A hostile SMTP peer: tarpit, ehlo-flood, big-chain or tls-alert (used by the lab).
    #[command(hide = true)]
    ServeHostile {
        #[arg(long, value_name = "MODE")]
        mode: String,
        #[arg(long = "listen", value_name = "ADDR:PORT", required = true)]
        listen: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// The key store (SQLite, created 0600 on first use).
    #[arg(
        long,
        value_name = "PATH",
        env = "MAILTRUST_KEY_STORE",
        default_value = "/var/lib/mailtrust/keys.db",
        global = true
    )]
    pub store: PathBuf,
    /// The key-encryption key: a file of exactly 32 random bytes. Alternatives: the environment
    /// variables MAILTRUST_KEK (64 hex digits or base64) or MAILTRUST_KEK_PASSPHRASE (Argon2id).
    #[arg(long, value_name = "PATH", env = "MAILTRUST_KEK_FILE", global = true)]
    pub kek_file: Option<PathBuf>,
    /// Pretend it is this time (seconds since 1970) for the lifecycle, e.g. to test a rotation
    /// policy; DNSSEC validation keeps the real time, and every audit row written under it
    /// says so, with the real time.
    #[arg(long, value_name = "UNIX", global = true, hide = true)]
    pub now: Option<i64>,
    /// Seconds a command that changes the store waits for another one to finish (they take
    /// turns through STORE.lock); then it gives up with exit status 3.
    #[arg(long, value_name = "SECS", default_value_t = 120, global = true)]
    pub lock_wait: u64,
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// Where a key's record is published.
#[derive(Debug, Args, Clone)]
pub struct PublishArgs {
    /// The zone's primary server for RFC 2136 updates, ADDR or ADDR:PORT.
    #[arg(long, value_name = "ADDR[:PORT]")]
    pub server: Option<String>,
    /// The zone to update (default: the key's domain).
    #[arg(long, value_name = "ZONE")]
    pub zone: Option<String>,
    /// The TSIG key in a file only you can read (mode 0600): one line
    /// `[hmac-sha256:]NAME:BASE64SECRET`, or Knot's `keymgr -t NAME` output as it is.
    #[arg(
        long,
        value_name = "FILE",
        env = "MAILTRUST_TSIG_FILE",
        conflicts_with = "tsig"
    )]
    pub tsig_file: Option<PathBuf>,
    /// The TSIG key itself, `[hmac-sha256:]NAME:BASE64SECRET`, or MAILTRUST_TSIG_KEY. On the
    /// command line it is visible to `ps` and kept in shell history: prefer --tsig-file.
    #[arg(
        long,
        value_name = "KEY",
        env = "MAILTRUST_TSIG_KEY",
        hide_env_values = true
    )]
    pub tsig: Option<String>,
    /// Publish through this command instead (see docs/keys.md for its contract).
    #[arg(long, value_name = "CMD", conflicts_with = "server")]
    pub publish_cmd: Option<String>,
    /// Print the zone-file entry to publish by hand instead; the key is marked published.
    #[arg(long, conflicts_with_all = ["server", "publish_cmd"])]
    pub zone_file: bool,
    /// TTL of the record.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u32,
}

/// Which keys an OpenDKIM export holds, and where it goes.
#[derive(Debug, Args, Clone)]
pub struct OpenDkimArgs {
    /// Write KeyTable, SigningTable and key files for OpenDKIM into DIR.
    #[arg(long, value_name = "DIR")]
    pub opendkim: Option<PathBuf>,
    /// Only the keys of this sending MTA (Rec 4-5: each MTA signs with its own keys).
    #[arg(long = "for-mta", value_name = "HOST", requires = "opendkim")]
    pub for_mta: Option<String>,
    /// Only the keys of this domain.
    #[arg(long = "for-domain", value_name = "DOMAIN", requires = "opendkim")]
    pub for_domain: Option<String>,
    /// Give the key files to this user (and its group), e.g. `opendkim`, which reads keys after
    /// dropping root: a name from /etc/passwd, or UID[:GID].
    #[arg(long = "opendkim-owner", value_name = "USER", requires = "opendkim")]
    pub owner: Option<String>,
    /// Allow an export with no key at all (otherwise refused when the previous one had keys:
    /// a mistyped filter must not stop all signing).
    #[arg(long = "opendkim-allow-empty", requires = "opendkim")]
    pub allow_empty: bool,
}

/// What a new key (generated or imported) is for.
#[derive(Debug, Args)]
pub struct NewKeyArgs {
    #[arg(long)]
    pub domain: String,
    #[arg(long)]
    pub selector: String,
    /// The sending MTA that signs with it (SP 800-177 Rec 4-5: one key per MTA).
    #[arg(long, value_name = "HOST", conflicts_with = "third_party")]
    pub mta: Option<String>,
    /// The third party that signs with it (Rec 4-10).
    #[arg(long, value_name = "NAME")]
    pub third_party: Option<String>,
    /// Allow RSA-1024 (flagged as weak; below 1024 is always refused, RFC 8301).
    #[arg(long)]
    pub allow_weak: bool,
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a key in pre-activation (nothing published yet).
    Generate {
        #[command(flatten)]
        key: NewKeyArgs,
        /// rsa-2048 (default), rsa-3072, rsa-4096 or ed25519.
        #[arg(long, default_value = "rsa-2048")]
        algorithm: String,
    },
    /// List keys.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Track a selector delegated by CNAME to a third-party sender (SP 800-177 Rec 4-10): the
    /// provider holds and rotates the key; we keep the selector from our own keys and check it.
    Delegate {
        #[arg(long)]
        domain: String,
        #[arg(long)]
        selector: String,
        /// The name `<selector>._domainkey.<domain>` is a CNAME to.
        #[arg(long, value_name = "NAME")]
        target: String,
        /// Who the provider is.
        #[arg(long, value_name = "NAME")]
        provider: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Stop tracking a delegated selector (DOMAIN/SELECTOR).
    Undelegate {
        selector: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// List delegated selectors; with --check, look each one up: the CNAME must still point to
    /// its target and the provider's key must be usable and at least 2048-bit RSA or Ed25519.
    ///
    /// Exit status with --check: 0 all sound; 1 a problem; 3 a lookup got no answer.
    Delegations {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        resolver: ResolverArgs,
    },
    /// Show one key: KEY is its id, or DOMAIN/SELECTOR.
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Publish the key's record (pre-activation → published).
    Publish {
        key: String,
        #[command(flatten)]
        to: PublishArgs,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Activate a published key once its record is visible at every authoritative server and
    /// through the validating resolver.
    Activate {
        key: String,
        /// Activate even without that proof (say why with --reason).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        resolver: ResolverArgs,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Stop signing with the key; its record stays so that mail in flight still verifies.
    Deactivate {
        key: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Publish the revoked record (`p=` empty, RFC 6376 §3.6.1). For a compromised key this
    /// publishes the revoked record again and changes no state.
    Revoke {
        key: String,
        #[command(flatten)]
        to: PublishArgs,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Erase the private key (unrecoverable). A compromised key is destroyed only once every
    /// authoritative server serves its revoked record (asked directly).
    ///
    /// Exit status: 0 destroyed; 1 not allowed, or a server still serves another record;
    /// 3 a server could not be asked (no proof either way).
    Destroy {
        key: String,
        /// Destroy a compromised key without that proof (say why with --reason).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        resolver: ResolverArgs,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Mark the key compromised: it stops signing at once, leaves the OpenDKIM export at once
    /// (with --opendkim; its key file is deleted), and its record is revoked in DNS (`p=`
    /// empty) by the same means as `keys revoke`. `keys run` keeps the revoked record in DNS.
    ///
    /// Exit status: 0 done; 1 the revocation in DNS was refused or the reload failed (the key
    /// is compromised all the same); 3 the DNS server did not answer (`keys run` retries).
    Compromised {
        key: String,
        #[command(flatten)]
        to: PublishArgs,
        #[command(flatten)]
        opendkim: OpenDkimArgs,
        /// With --opendkim: run after the export (e.g. `systemctl reload opendkim`).
        #[arg(long, value_name = "CMD", requires = "opendkim")]
        reload_cmd: Option<String>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Perform every lifecycle step that is due under the rotation policy (for cron or a
    /// systemd timer): generate and publish successors ahead of time, activate them once their
    /// records are visible, deactivate, revoke and destroy old keys. Idempotent; a run killed
    /// at any point is finished by the next one.
    Run {
        /// Replace an active key this many days after its activation.
        #[arg(long, default_value_t = 182)]
        rotate_days: u32,
        /// Publish the successor this many days before.
        #[arg(long, default_value_t = 7)]
        lead_days: u32,
        /// Keep a deactivated key's record this many days (mail in flight), then revoke it.
        #[arg(long, default_value_t = 7)]
        retire_days: u32,
        /// Destroy a revoked key's private key after this many days.
        #[arg(long, default_value_t = 30)]
        destroy_days: u32,
        /// Run after each activation or deactivation, e.g. to reload OpenDKIM or the milter.
        #[arg(long, value_name = "CMD")]
        reload_cmd: Option<String>,
        /// Keep an OpenDKIM export up to date: rewritten at the start of each run and after
        /// each activation or deactivation, before the reload command.
        #[command(flatten)]
        opendkim: OpenDkimArgs,
        #[command(flatten)]
        to: PublishArgs,
        #[command(flatten)]
        resolver: ResolverArgs,
    },
    /// Write a key as PEM: the public key (SubjectPublicKeyInfo), or with --private the
    /// PKCS#8 private key (needs the KEK; logged).
    ///
    /// With --opendkim DIR: a KeyTable, a SigningTable and the private key files of every
    /// active key (or those of --domain / --mta), for OpenDKIM; see docs/keys.md.
    Export {
        /// The key (id or DOMAIN/SELECTOR); not with --opendkim.
        #[arg(required_unless_present = "opendkim", conflicts_with = "opendkim")]
        key: Option<String>,
        /// The private key instead of the public one.
        #[arg(long)]
        private: bool,
        /// Write to FILE (created 0600) instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        opendkim: OpenDkimArgs,
        /// With --opendkim: run after the tables changed (e.g. `systemctl reload opendkim`);
        /// key files no longer exported are deleted only once it worked. Without it they are
        /// deleted at once, so reload OpenDKIM right after the export.
        #[arg(long, value_name = "CMD", requires = "opendkim")]
        reload_cmd: Option<String>,
    },
    /// Import a PKCS#8 private key (PEM) as a key in pre-activation.
    Import {
        #[command(flatten)]
        key: NewKeyArgs,
        /// The PEM file (`-----BEGIN PRIVATE KEY-----`).
        #[arg(long, value_name = "FILE")]
        pem: PathBuf,
    },
    /// Copy the store to DEST (a consistent snapshot, created 0600).
    Backup { dest: PathBuf },
    /// Put a backup in place of the store. The backup must open with the KEK and its audit log
    /// must verify; the store it replaces is first copied to STORE.before-restore-TIME. Refused
    /// when it would take a key back in time (e.g. a revoked key active again) or lose one.
    /// Stop the milter and timers that use the store first.
    Restore {
        backup: PathBuf,
        /// Restore even if keys go back to earlier states (they are listed).
        #[arg(long)]
        allow_regression: bool,
    },
    /// Re-encrypt every data key under a new key-encryption key, in one transaction.
    RotateKek {
        /// The new KEK: a file of 32 random bytes.
        #[arg(long, value_name = "PATH")]
        new_kek_file: PathBuf,
    },
    /// Show the audit log, or check its keyed chain with --verify (which needs the KEK).
    Log {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        verify: bool,
    },
}

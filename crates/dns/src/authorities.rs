//! Asks every authoritative server of a name's zone directly (RD=0) what it serves, so that a
//! publisher can tell "visible everywhere" from "visible on the primary only" before relying on a
//! record (a DKIM key activated before its record reaches every secondary breaks mail).
//!
//! The zone's NS set and the servers' addresses come from the validating resolver; the answers
//! themselves come straight from each server, over UDP with a TCP retry on truncation.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use serde::Serialize;
use tokio::net::UdpSocket;

use crate::present;
use crate::{Outcome, QueryType, Resolver};

/// What one authoritative server said.
#[derive(Debug, Clone, Serialize)]
pub struct ServerAnswer {
    /// The NS host name.
    pub server: String,
    pub address: SocketAddr,
    pub outcome: Outcome,
    /// The answer was authoritative (AA set); a lame server answers without it.
    pub authoritative: bool,
    /// The records of the asked type, in presentation format (TXT joined).
    pub records: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The zone and what each of its servers serves for one name and type.
#[derive(Debug, Clone, Serialize)]
pub struct Propagation {
    pub zone: String,
    pub name: String,
    pub answers: Vec<ServerAnswer>,
    /// Set when the zone or its servers could not be found; `answers` is then empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Propagation {
    /// Every server gave an answer (records, NXDOMAIN or NODATA): what they serve is known.
    /// False when the zone could not be found or a server timed out or failed.
    pub fn complete(&self) -> bool {
        self.problem.is_none() && self.answers.iter().all(|a| a.outcome.is_answer())
    }

    /// Every server answered authoritatively with the same record set.
    pub fn consistent(&self) -> bool {
        let mut sets = self.answers.iter().map(|a| {
            let mut r = a.records.clone();
            r.sort();
            (a.outcome, r)
        });
        match sets.next() {
            None => false,
            Some(first) => {
                self.answers
                    .iter()
                    .all(|a| a.authoritative && a.outcome.is_answer())
                    && sets.all(|s| s == first)
            }
        }
    }
}

/// Finds the zone of `name` (the closest enclosing NS RRset) and asks each of its servers.
pub async fn propagation(
    resolver: &Resolver,
    name: &Name,
    rtype: QueryType,
    wait: Duration,
) -> Propagation {
    let mut zone = name.clone();
    let ns = loop {
        let a = resolver.lookup(&zone, QueryType::Ns).await;
        if a.outcome == Outcome::Records && a.records.iter().any(|r| r.rtype == "NS") {
            break Some(a);
        }
        if !a.outcome.is_answer() {
            return Propagation {
                zone: zone.to_ascii(),
                name: name.to_ascii(),
                answers: Vec::new(),
                problem: Some(format!(
                    "the NS lookup for {} gave no answer ({})",
                    zone.to_ascii(),
                    a.outcome
                )),
            };
        }
        if zone.is_root() {
            break None;
        }
        zone = zone.base_name();
    };
    let Some(ns) = ns else {
        return Propagation {
            zone: ".".into(),
            name: name.to_ascii(),
            answers: Vec::new(),
            problem: Some("no enclosing zone found".into()),
        };
    };
    let hosts: Vec<Name> = ns
        .rdatas()
        .filter_map(|r| match r {
            RData::NS(n) => Some(n.0.clone()),
            _ => None,
        })
        .collect();
    let mut targets: Vec<(String, SocketAddr)> = Vec::new();
    for h in &hosts {
        for qt in [QueryType::A, QueryType::Aaaa] {
            let a = resolver.lookup(h, qt).await;
            for r in a.rdatas() {
                let ip = match r {
                    RData::A(a) => IpAddr::V4(a.0),
                    RData::AAAA(a) => IpAddr::V6(a.0),
                    _ => continue,
                };
                targets.push((h.to_ascii(), SocketAddr::new(ip, 53)));
            }
        }
    }
    let asks = targets
        .iter()
        .map(|(host, addr)| ask(host.clone(), *addr, name, rtype.record_type(), wait));
    let answers = futures_util::future::join_all(asks).await;
    Propagation {
        zone: zone.to_ascii(),
        name: name.to_ascii(),
        problem: answers
            .is_empty()
            .then(|| "no addresses for the zone's name servers".to_string()),
        answers,
    }
}

async fn ask(
    server: String,
    address: SocketAddr,
    name: &Name,
    rtype: RecordType,
    wait: Duration,
) -> ServerAnswer {
    let mut m = Message::query();
    m.metadata.op_code = OpCode::Query;
    m.metadata.message_type = MessageType::Query;
    m.metadata.recursion_desired = false;
    m.add_query(Query::query(name.clone(), rtype));
    let failed = |outcome: Outcome, detail: String| ServerAnswer {
        server: server.clone(),
        address,
        outcome,
        authoritative: false,
        records: Vec::new(),
        detail: Some(detail),
    };
    let bytes = match m.to_vec() {
        Ok(b) => b,
        Err(e) => return failed(Outcome::ServFail, e.to_string()),
    };
    let exchange = async {
        let local: SocketAddr = if address.is_ipv4() {
            "0.0.0.0:0"
                .parse()
                .map_err(|_| std::io::ErrorKind::InvalidInput)?
        } else {
            "[::]:0"
                .parse()
                .map_err(|_| std::io::ErrorKind::InvalidInput)?
        };
        let sock = UdpSocket::bind(local).await?;
        sock.connect(address).await?;
        sock.send(&bytes).await?;
        let mut buf = vec![0u8; 65_535];
        let n = sock.recv(&mut buf).await?;
        buf.truncate(n);
        let reply = Message::from_vec(&buf).map_err(std::io::Error::other)?;
        if !reply.metadata.truncation {
            return Ok(reply);
        }
        // RFC 7766: retry over TCP when the UDP answer was truncated (DKIM keys often are).
        let answer = crate::tcp::exchange(address, &bytes).await?;
        Message::from_vec(&answer).map_err(std::io::Error::other)
    };
    let reply = match tokio::time::timeout(wait, exchange).await {
        Err(_) => {
            return failed(
                Outcome::Timeout,
                format!("no answer within {} s", wait.as_secs()),
            );
        }
        Ok(Err(e)) => return failed(Outcome::Timeout, e.to_string()),
        Ok(Ok(r)) => r,
    };
    if reply.id != m.id {
        return failed(Outcome::ServFail, "answer id does not match".into());
    }
    let records: Vec<String> = reply
        .answers
        .iter()
        .filter(|r| r.record_type() == rtype)
        .map(|r| present::entry(r, crate::DnssecStatus::Indeterminate).data)
        .collect();
    let outcome = match reply.metadata.response_code {
        ResponseCode::NoError if !records.is_empty() => Outcome::Records,
        ResponseCode::NoError => Outcome::NoData,
        ResponseCode::NXDomain => Outcome::NxDomain,
        ResponseCode::Refused => Outcome::Refused,
        _ => Outcome::ServFail,
    };
    ServerAnswer {
        server,
        address,
        outcome,
        authoritative: reply.metadata.authoritative,
        records,
        detail: None,
    }
}

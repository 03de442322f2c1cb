//! TCP initial sequence numbers differ per machine and per connection, as Linux's do
//! (RFC 6528): a server's SYN/ACK does not carry its client's ISN, and two connections
//! from one client start at different numbers — what Wireshark users look at first.

use netloom_drivers::docker::{ContainerDef, EndpointDef, Lab, Model, NetworkDef};
use netloom_drivers::host::{ConnOutcome, Listen};
use netloom_drivers::net::L4;

fn seqs(lab: &Lab) -> Vec<(u8, u32)> {
    let mut out = Vec::new();
    for (id, _) in lab.fabric.links() {
        for c in lab.fabric.captured(id) {
            let d = &c.data;
            // Ethernet + IPv4 (no options) + TCP: flags at 14+20+13, seq at 14+20+4.
            if d.len() >= 54 && d[12..14] == [0x08, 0x00] && d[23] == 6 {
                let flags = d[47];
                let seq = u32::from_be_bytes([d[38], d[39], d[40], d[41]]);
                if flags & 0x02 != 0 {
                    out.push((flags, seq));
                }
            }
        }
    }
    out
}

#[test]
fn servers_and_connections_draw_their_own_initial_sequence_numbers() {
    let mut m = Model::default();
    m.networks.push(NetworkDef::bridge("app"));
    for name in ["web", "client"] {
        let mut c = ContainerDef::new(name);
        c.networks.push(EndpointDef {
            network: "app".into(),
            ipv4: None,
            ipv6: None,
            mac: None,
            aliases: vec![],
        });
        c.listen.push(Listen {
            l4: L4::Tcp,
            addr: None,
            port: 80,
        });
        m.containers.push(c);
    }
    let mut lab = Lab::build(&m, 1).expect("valid model");
    lab.fabric.enable_capture();
    let web = lab.address_of("web", false).expect("address");
    for _ in 0..2 {
        assert_eq!(
            lab.connect("client", web, 80, L4::Tcp).expect("connect").outcome,
            ConnOutcome::Ok
        );
    }
    let s = seqs(&lab);
    let syns: Vec<u32> = s.iter().filter(|(f, _)| f & 0x10 == 0).map(|&(_, q)| q).collect();
    let synacks: Vec<u32> = s.iter().filter(|(f, _)| f & 0x10 != 0).map(|&(_, q)| q).collect();
    assert!(syns.len() >= 2 && synacks.len() >= 2, "{s:?}");
    assert_ne!(syns[0], synacks[0], "the server's ISN is its own");
    assert_ne!(syns[0], syns[syns.len() - 1], "each connection starts elsewhere");
}

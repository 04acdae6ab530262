//! The JWT attack list (security-standards.md §6.1), one test per class: every forged,
//! confused or malformed token must be refused, and a genuine one accepted.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{Hmac, KeyInit, Mac};
use latch_verify::keys::{Jwk, Jwks, thumbprint};
use latch_verify::{Claims, KeySet, Rejected, TYP, Verifier};
use serde_json::{Value, json};

const NOW: u64 = 1_800_000_000;

struct Fixture {
    key: SigningKey,
    kid: String,
    verifier: Verifier,
}

fn fixture() -> Fixture {
    let key = SigningKey::from_bytes(&[7; 32]);
    let kid = thumbprint(&key.verifying_key());
    let verifier = Verifier::new(KeySet::from_keys([key.verifying_key()]), "latch", "billing");
    Fixture { key, kid, verifier }
}

fn claims() -> Claims {
    Claims {
        iss: "latch".into(),
        sub: "ada".into(),
        aud: "billing".into(),
        exp: NOW + 60,
        iat: NOW,
        nbf: NOW,
        jti: "dGVzdC1qdGktMTIzNDU2".into(),
        sid: "00112233445566778899aabbccddeeff0011".into(),
        roles: vec!["admin".into()],
    }
}

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

/// `header.payload` from raw JSON values.
fn signing_input(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    )
}

impl Fixture {
    fn header(&self) -> Value {
        json!({"alg": "EdDSA", "typ": TYP, "kid": self.kid})
    }

    fn payload(&self) -> Value {
        serde_json::to_value(claims()).unwrap()
    }

    /// A token over any header and payload, correctly signed with our key.
    fn sign(&self, header: &Value, payload: &Value) -> String {
        let input = signing_input(header, payload);
        let sig = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig.to_bytes()))
    }

    fn good(&self) -> String {
        claims().sign(&self.key, &self.kid)
    }

    fn refuse(&self, token: &str) -> Rejected {
        match self.verifier.verify(token, NOW) {
            Ok(c) => panic!("accepted a token that must be refused: {token}\n{c:?}"),
            Err(e) => e,
        }
    }

    fn with_claim(&self, name: &str, v: Value) -> String {
        let mut p = self.payload();
        p[name] = v;
        self.sign(&self.header(), &p)
    }

    fn without_claim(&self, name: &str) -> String {
        let mut p = self.payload();
        p.as_object_mut().unwrap().remove(name);
        self.sign(&self.header(), &p)
    }

    fn with_header(&self, name: &str, v: Value) -> String {
        let mut h = self.header();
        h[name] = v;
        self.sign(&h, &self.payload())
    }
}

#[test]
fn a_genuine_token_is_accepted_with_its_claims() {
    let f = fixture();
    let c = f.verifier.verify(&f.good(), NOW).unwrap();
    assert_eq!(c, claims());
    // The written form is what the docs promise: alg, typ, kid and nothing else.
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(f.good().split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header, f.header());
    // Within the leeway on either side.
    assert!(f.verifier.verify(&f.good(), NOW + 60 + 29).is_ok());
    assert!(f.verifier.verify(&f.good(), NOW - 29).is_ok());
}

#[test]
fn alg_none_in_any_case_is_refused() {
    let f = fixture();
    for alg in [
        "none", "None", "NONE", "nOnE", "", "EdDSA ", "eddsa", "EDDSA", "Ed25519",
    ] {
        let mut h = f.header();
        h["alg"] = json!(alg);
        let input = signing_input(&h, &f.payload());
        for sig in [String::new(), b64(b"garbage"), b64(&[0; 64])] {
            let t = if sig.is_empty() {
                format!("{input}.")
            } else {
                format!("{input}.{sig}")
            };
            f.refuse(&t);
        }
        // Even correctly signed: alg must be exactly EdDSA.
        assert!(matches!(
            f.refuse(&f.sign(&h, &f.payload())),
            Rejected::Header(_)
        ));
        // And the two-segment form.
        f.refuse(&input);
    }
}

/// Every way of writing our public key, as a key-confusion attacker would try it as an HMAC
/// secret.
fn public_key_encodings(f: &Fixture) -> Vec<Vec<u8>> {
    let raw = f.key.verifying_key().to_bytes().to_vec();
    let mut der = hex("302a300506032b6570032100");
    der.extend_from_slice(&raw);
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(&der)
    );
    let mut blob = Vec::new();
    for part in [b"ssh-ed25519".as_slice(), raw.as_slice()] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    let openssh = format!("ssh-ed25519 {} latch", STANDARD.encode(&blob));
    let jwk = serde_json::to_string(&Jwk::ed25519(&f.key.verifying_key())).unwrap();
    let jwks = serde_json::to_string(&Jwks {
        keys: vec![Jwk::ed25519(&f.key.verifying_key())],
    })
    .unwrap();
    let mut out = vec![
        raw.clone(),
        b64(&raw).into_bytes(),
        der,
        pem.clone().into_bytes(),
        pem.replace('\n', "\r\n").into_bytes(),
        format!("  {pem}").into_bytes(),
        format!("\u{feff}{pem}").into_bytes(),
        openssh.into_bytes(),
        jwk.into_bytes(),
        jwks.into_bytes(),
        f.kid.clone().into_bytes(),
        Vec::new(),
    ];
    out.push(format!("\n{}", String::from_utf8_lossy(&out[3])).into_bytes());
    out
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn hmac_with_our_public_key_in_any_encoding_is_refused() {
    let f = fixture();
    for alg in ["HS256", "HS384", "HS512"] {
        let mut h = f.header();
        h["alg"] = json!(alg);
        let input = signing_input(&h, &f.payload());
        for secret in public_key_encodings(&f) {
            let tag = match alg {
                "HS256" => mac::<Hmac<sha2::Sha256>>(&secret, &input),
                "HS384" => mac::<Hmac<sha2::Sha384>>(&secret, &input),
                _ => mac::<Hmac<sha2::Sha512>>(&secret, &input),
            };
            let t = format!("{input}.{}", b64(&tag));
            assert!(matches!(f.refuse(&t), Rejected::Header(_)), "{alg}");
        }
    }
}

fn mac<M: Mac + KeyInit>(secret: &[u8], input: &str) -> Vec<u8> {
    let mut m = <M as KeyInit>::new_from_slice(secret).unwrap();
    m.update(input.as_bytes());
    m.finalize().into_bytes().to_vec()
}

#[test]
fn empty_zeroed_short_and_malleated_signatures_are_refused() {
    let f = fixture();
    let good = f.good();
    let (input, sig) = good.rsplit_once('.').unwrap();
    f.refuse(&format!("{input}."));
    assert_eq!(
        f.refuse(&format!("{input}.{}", b64(&[0; 64]))),
        Rejected::Signature
    );
    f.refuse(&format!("{input}.{}", b64(&[0; 32])));
    f.refuse(&format!("{input}.{}", b64(&[0; 65])));
    // A signature with S + L (the group order) verifies under lax Ed25519 rules; strict
    // verification refuses the non-canonical S.
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    add_group_order(&mut bytes[32..]);
    assert_eq!(
        f.refuse(&format!("{input}.{}", b64(&bytes))),
        Rejected::Signature
    );
    // A flipped bit anywhere in the signature or the payload.
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    bytes[10] ^= 1;
    assert_eq!(
        f.refuse(&format!("{input}.{}", b64(&bytes))),
        Rejected::Signature
    );
    let mut p = f.payload();
    p["roles"] = json!(["admin", "root"]);
    let forged = format!("{}.{sig}", signing_input(&f.header(), &p));
    assert_eq!(f.refuse(&forged), Rejected::Signature);
}

/// Adds L = 2^252 + 27742317777372353535851937790883648493 to a little-endian scalar.
fn add_group_order(s: &mut [u8]) {
    let l: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (b, l) in s.iter_mut().zip(l) {
        let v = u16::from(*b) + u16::from(l) + carry;
        *b = v as u8;
        carry = v >> 8;
    }
}

#[test]
fn keys_named_by_the_header_are_never_used() {
    let f = fixture();
    let attacker = SigningKey::from_bytes(&[9; 32]);
    let attacker_jwk = serde_json::to_value(Jwk::ed25519(&attacker.verifying_key())).unwrap();
    let claims_by_attacker = |h: &Value| {
        let input = signing_input(h, &f.payload());
        format!(
            "{input}.{}",
            b64(&attacker.sign(input.as_bytes()).to_bytes())
        )
    };
    for (name, v) in [
        ("jwk", attacker_jwk.clone()),
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("x5c", json!(["MIIBszCCAVmgAwIBAgIUQ"])),
        ("x5t", json!("abc")),
        ("crit", json!(["b64"])),
        ("b64", json!(false)),
        ("enc", json!("A256GCM")),
        ("zip", json!("DEF")),
        ("cty", json!("JWT")),
    ] {
        let mut h = f.header();
        h[name] = v;
        assert!(
            matches!(f.refuse(&claims_by_attacker(&h)), Rejected::Header(_)),
            "{name}"
        );
        // Refused even when signed with our own key: the header must be exactly ours.
        assert!(
            matches!(f.refuse(&f.sign(&h, &f.payload())), Rejected::Header(_)),
            "{name}"
        );
    }
    // The attacker's key under its own kid: unknown to us.
    let mut h = f.header();
    h["kid"] = json!(attacker_jwk["kid"]);
    assert_eq!(f.refuse(&claims_by_attacker(&h)), Rejected::UnknownKey);
    // The attacker's signature under our kid: the kid is our key's thumbprint, so it selects
    // exactly our key, and the signature fails.
    assert_eq!(
        f.refuse(&claims_by_attacker(&f.header())),
        Rejected::Signature
    );
}

#[test]
fn kid_tricks_are_refused_before_any_lookup() {
    let f = fixture();
    for kid in [
        json!("../../../../etc/passwd"),
        json!("' OR '1'='1"),
        json!("k\u{0000}"),
        json!(""),
        json!("x".repeat(5000)),
        json!(format!("{}/", &f.kid[..42])),
        json!(7),
        json!(null),
        json!([f.kid]),
    ] {
        let mut h = f.header();
        h["kid"] = kid.clone();
        let t = f.sign(&h, &f.payload());
        assert!(
            matches!(f.refuse(&t), Rejected::Header(_) | Rejected::Malformed(_)),
            "{kid}"
        );
    }
    let mut h = f.header();
    h.as_object_mut().unwrap().remove("kid");
    assert!(matches!(
        f.refuse(&f.sign(&h, &f.payload())),
        Rejected::Header(_)
    ));
    // A well-formed kid of a key we do not have.
    let other = thumbprint(&SigningKey::from_bytes(&[3; 32]).verifying_key());
    assert_eq!(
        f.refuse(&f.with_header("kid", json!(other))),
        Rejected::UnknownKey
    );
}

#[test]
fn non_compact_serializations_and_stray_characters_are_refused() {
    let f = fixture();
    let good = f.good();
    let parts: Vec<&str> = good.split('.').collect();
    let json_serialization = json!({
        "payload": parts[1], "protected": parts[0], "signature": parts[2]
    })
    .to_string();
    let general = json!({"payload": parts[1], "signatures": []}).to_string();
    for bad in [
        json_serialization,
        general,
        format!("{good}.{}", parts[2]),
        format!(
            "{}.{}.{}.{}.{}",
            parts[0],
            b64(b"key"),
            b64(b"iv"),
            parts[1],
            parts[2]
        ),
        format!("{}.{}", parts[0], parts[1]),
        format!(" {good}"),
        format!("{good} "),
        format!("{good}\n"),
        format!("{good}="),
        good.replacen('.', "..", 1),
        format!(".{good}"),
        good.replace('-', "+").replace('_', "/") + "+/",
        format!("{}.{}=.{}", parts[0], parts[1], parts[2]),
        good.replacen(parts[1], &format!("{}\u{00e9}", parts[1]), 1),
        String::new(),
        ".".into(),
        "..".into(),
        "a".repeat(10_000),
        format!("Bearer {good}"),
    ] {
        assert!(
            matches!(f.refuse(&bad), Rejected::Malformed(_) | Rejected::Signature),
            "{bad}"
        );
    }
}

#[test]
fn mistyped_missing_and_foreign_claims_are_refused() {
    let f = fixture();
    for (name, v) in [
        ("exp", json!((NOW + 60).to_string())),
        ("exp", json!(format!("{}.0", NOW + 60))),
        ("exp", json!((NOW + 60) as f64 + 0.5)),
        ("exp", json!(null)),
        ("exp", json!(-1)),
        ("nbf", json!(NOW.to_string())),
        ("nbf", json!(true)),
        ("iat", json!(NOW.to_string())),
        ("aud", json!(["billing"])),
        ("aud", json!([])),
        ("aud", json!(["search", "billing"])),
        ("aud", json!(7)),
        ("iss", json!(["latch"])),
        ("roles", json!("admin")),
        ("sub", json!(1)),
    ] {
        assert!(
            matches!(
                f.refuse(&f.with_claim(name, v.clone())),
                Rejected::Claims(_)
            ),
            "{name}={v}"
        );
    }
    for name in [
        "exp", "nbf", "iat", "aud", "iss", "sub", "jti", "sid", "roles",
    ] {
        assert!(
            matches!(f.refuse(&f.without_claim(name)), Rejected::Claims(_)),
            "{name}"
        );
    }
    // A claim this version does not know is signed by the issuer like the rest: ignored, so a
    // later Latch can add one without breaking older verifiers.
    assert!(
        f.verifier
            .verify(&f.with_claim("extra", json!(1)), NOW)
            .is_ok()
    );
    assert!(matches!(
        f.refuse(&f.with_claim("aud", json!("search"))),
        Rejected::Claims(_)
    ));
    assert!(matches!(
        f.refuse(&f.with_claim("aud", json!("Billing"))),
        Rejected::Claims(_)
    ));
    assert!(matches!(
        f.refuse(&f.with_claim("iss", json!("evil"))),
        Rejected::Claims(_)
    ));
    // A duplicated claim (the parser's choice of which one wins must not matter).
    let input = format!(
        "{}.{}",
        b64(f.header().to_string().as_bytes()),
        b64(f
            .payload()
            .to_string()
            .replacen(
                "\"aud\":\"billing\"",
                "\"aud\":\"billing\",\"aud\":\"search\"",
                1
            )
            .as_bytes())
    );
    let t = format!("{input}.{}", b64(&f.key.sign(input.as_bytes()).to_bytes()));
    assert!(matches!(f.refuse(&t), Rejected::Claims(_)));
}

#[test]
fn time_windows_are_enforced_with_a_small_leeway() {
    let f = fixture();
    let t = f.good();
    assert_eq!(f.verifier.verify(&t, NOW + 60 + 30), Err(Rejected::Expired));
    assert_eq!(f.verifier.verify(&t, NOW + 3600), Err(Rejected::Expired));
    assert_eq!(f.verifier.verify(&t, NOW - 31), Err(Rejected::NotYetValid));
    let strict = f.verifier.clone().with_leeway(0);
    assert_eq!(strict.verify(&t, NOW + 60), Err(Rejected::Expired));
    assert!(strict.verify(&t, NOW + 59).is_ok());
    // A lifetime longer than five minutes, or an inverted one, is not ours.
    assert!(matches!(
        f.refuse(&f.with_claim("exp", json!(NOW + 301))),
        Rejected::Claims(_)
    ));
    assert!(matches!(
        f.refuse(&f.with_claim("exp", json!(NOW))),
        Rejected::Claims(_)
    ));
    assert!(matches!(
        f.refuse(&f.with_claim("nbf", json!(NOW + 61))),
        Rejected::Claims(_)
    ));
    assert_eq!(
        f.refuse(&f.with_claim("nbf", json!(NOW + 40))),
        Rejected::NotYetValid
    );
}

#[test]
fn other_token_types_are_refused() {
    let f = fixture();
    for typ in [
        json!("JWT"),
        json!("at+jwt"),
        json!("secevent+jwt"),
        json!("latch-svc+JWT"),
        json!(null),
    ] {
        assert!(
            matches!(
                f.refuse(&f.with_header("typ", typ.clone())),
                Rejected::Header(_)
            ),
            "{typ}"
        );
    }
    let mut h = f.header();
    h.as_object_mut().unwrap().remove("typ");
    assert!(matches!(
        f.refuse(&f.sign(&h, &f.payload())),
        Rejected::Header(_)
    ));
    // Latch's other credentials are not JWTs at all: a one-time token or a session token
    // presented as a service token is malformed.
    f.refuse("latch_o_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXhxdXU");
    f.refuse("latch_s__e6igvwGdM9TGh-_iKcRd0sjwQ8ykffgobbf1cwguWDI0CLDdTBpwZ_HVVJVuWBCEvY2xB1DEpBrkFBDl4WQA9rt");
}

#[test]
fn key_sets_with_private_mislabelled_or_weak_keys_are_refused() {
    let f = fixture();
    let mut jwk = serde_json::to_value(Jwk::ed25519(&f.key.verifying_key())).unwrap();
    let ok = json!({"keys": [jwk.clone()]}).to_string();
    assert_eq!(KeySet::from_jwks_json(ok.as_bytes()).unwrap().len(), 1);
    jwk["d"] = json!(b64(f.key.as_bytes()));
    assert!(KeySet::from_jwks_json(json!({"keys": [jwk]}).to_string().as_bytes()).is_err());
    let mut wrong_kid = serde_json::to_value(Jwk::ed25519(&f.key.verifying_key())).unwrap();
    wrong_kid["kid"] = json!(thumbprint(
        &SigningKey::from_bytes(&[1; 32]).verifying_key()
    ));
    assert!(KeySet::from_jwks_json(json!({"keys": [wrong_kid]}).to_string().as_bytes()).is_err());
    // The identity point (a small-order key) verifies forged signatures under lax rules.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&identity), "kid": "x".repeat(43)});
    assert!(KeySet::from_jwks_json(json!({"keys": [weak]}).to_string().as_bytes()).is_err());
    // Keys of other types are skipped, not trusted; nor are keys for another algorithm.
    let rsa = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": f.kid});
    let oct = json!({"kty": "oct", "k": b64(b"secret"), "kid": f.kid});
    let mut hs = serde_json::to_value(Jwk::ed25519(&f.key.verifying_key())).unwrap();
    hs["alg"] = json!("HS256");
    let set =
        KeySet::from_jwks_json(json!({"keys": [rsa, oct, hs]}).to_string().as_bytes()).unwrap();
    assert!(set.is_empty());
    assert!(KeySet::from_jwks_json(b"[]").is_err());
    assert!(KeySet::from_jwks_json(b"{\"keys\": 1}").is_err());
}

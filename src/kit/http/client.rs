//! Who is on the other end of a request: address, user agent and whether the browser
//! reached us over HTTPS. Forwarded headers count only from proxies the configuration
//! trusts (`server.trusted_proxies`); a client can never set them for itself.

use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

/// Longest user agent kept; the rest is cut off (it is free text from the client).
const MAX_USER_AGENT: usize = 256;

/// The proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed, and whether
/// the public URL is HTTPS. Registered once as app data.
#[derive(Debug, Clone, Default)]
pub struct ProxyTrust {
    trusted: Vec<IpAddr>,
    public_https: bool,
}

impl ProxyTrust {
    /// From the configured addresses; one that is not an IP address is an error naming it.
    pub fn new(trusted: &[String], public_url: &str) -> Result<ProxyTrust, String> {
        let trusted = trusted
            .iter()
            .map(|a| a.parse().map_err(|_| format!("`{a}` is not an IP address")))
            .collect::<Result<_, _>>()?;
        Ok(ProxyTrust {
            trusted,
            public_https: public_url.starts_with("https://"),
        })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.contains(&ip)
    }
}

/// The client of one request, as far as the server can know it.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// The client's address: the peer, or the last hop a trusted proxy reports.
    pub ip: Option<IpAddr>,
    /// Its `User-Agent`, cut to a bound and stripped of control characters.
    pub user_agent: Option<String>,
    /// Whether the browser reached the service over HTTPS (secure cookies).
    pub https: bool,
}

impl ClientInfo {
    /// Reads `req` under `trust`.
    pub fn of(req: &HttpRequest, trust: &ProxyTrust) -> ClientInfo {
        let peer = req.peer_addr().map(|p| p.ip());
        let via_proxy = peer.is_some_and(|ip| trust.trusts(ip));
        let forwarded = via_proxy.then(|| forwarded_for(req, trust)).flatten();
        let forwarded_https = via_proxy && header(req, "x-forwarded-proto") == Some("https");
        ClientInfo {
            ip: forwarded.or(peer),
            user_agent: header(req, "user-agent").map(clean_user_agent),
            https: trust.public_https || forwarded_https,
        }
    }

    /// Reads `req` under the server's registered [`ProxyTrust`] (none: trust no proxy).
    pub fn of_request(req: &HttpRequest) -> ClientInfo {
        match req.app_data::<web::Data<ProxyTrust>>() {
            Some(trust) => ClientInfo::of(req, trust),
            None => ClientInfo::of(req, &ProxyTrust::default()),
        }
    }

    /// The address as text, `unknown` when there is none.
    pub fn ip_text(&self) -> String {
        self.ip
            .map_or_else(|| "unknown".into(), |ip| ip.to_string())
    }
}

/// The right-most address in `X-Forwarded-For` that is not itself a trusted proxy.
fn forwarded_for(req: &HttpRequest, trust: &ProxyTrust) -> Option<IpAddr> {
    header(req, "x-forwarded-for")?
        .rsplit(',')
        .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
        .find(|ip| !trust.trusts(*ip))
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn clean_user_agent(agent: &str) -> String {
    agent
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT)
        .collect()
}

impl FromRequest for ClientInfo {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<ClientInfo, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(ClientInfo::of_request(req)))
    }
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request(peer: &str, forwarded: &str, proto: &str) -> HttpRequest {
        TestRequest::default()
            .peer_addr(peer.parse().expect("socket address"))
            .insert_header(("x-forwarded-for", forwarded))
            .insert_header(("x-forwarded-proto", proto))
            .to_http_request()
    }

    #[test]
    fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
        let trust = ProxyTrust::new(&[], "").expect("trust");

        let client = ClientInfo::of(&request("203.0.113.9:4000", "1.2.3.4", "https"), &trust);

        assert_eq!(client.ip_text(), "203.0.113.9");
        assert!(!client.https, "a client cannot claim HTTPS for itself");
    }

    #[test]
    fn a_trusted_proxy_reports_the_last_hop_before_it() {
        let trust = ProxyTrust::new(&["10.0.0.1".into()], "").expect("trust");
        let req = request("10.0.0.1:4000", "6.6.6.6, 198.51.100.7, 10.0.0.1", "https");

        let client = ClientInfo::of(&req, &trust);

        assert_eq!(
            client.ip_text(),
            "198.51.100.7",
            "a spoofed first hop is not taken"
        );
        assert!(client.https);
    }

    #[test]
    fn an_https_public_url_makes_every_cookie_secure() {
        let trust = ProxyTrust::new(&[], "https://cloud.example").expect("trust");

        let client = ClientInfo::of(&request("203.0.113.9:4000", "", "http"), &trust);

        assert!(client.https);
    }
}

//! Certificates for TLS test registries, made with the `openssl` CLI: a CA, a server
//! certificate for 127.0.0.1 and localhost, and a client certificate (for `http.tls.clientcas`);
//! plus one HTTPS request through `openssl s_client`, for probing such a registry.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The PEM files of a test PKI, all in one directory.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA certificate clients trust (`ca_file`).
    pub ca: PathBuf,
    /// The server certificate (SAN IP:127.0.0.1, DNS:localhost) and its key.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A client certificate signed by the CA (extendedKeyUsage clientAuth) and its key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = crate::support::tools::tool("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Makes a CA, a server certificate and a client certificate (P-256 keys) in `dir`.
pub fn make_pki(dir: &Path) -> Result<Pki, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=imagectl-it-ca"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca)?;
    for (name, cn, ext) in [
        (
            "server",
            "/CN=127.0.0.1",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        ),
        (
            "client",
            "/CN=imagectl-it-client",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
        ),
    ] {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let extfile = format!("{name}.ext");
        std::fs::write(dir.join(&extfile), ext).map_err(|e| e.to_string())?;
        let mut req = vec!["req", "-subj", cn];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr]);
        openssl(dir, &req)?;
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                &extfile,
            ],
        )?;
    }
    Ok(Pki {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    })
}

/// `GET target` over HTTPS through `openssl s_client` (presenting the client certificate
/// when `client` is set). Returns the status code, or `None` if no HTTP answer came.
pub fn https_get_status(host: &str, target: &str, pki: &Pki, client: bool) -> Option<u16> {
    let mut cmd = crate::support::tools::tool("openssl");
    cmd.args(["s_client", "-quiet", "-connect", host, "-CAfile"])
        .arg(&pki.ca);
    if client {
        cmd.arg("-cert")
            .arg(&pki.client_cert)
            .arg("-key")
            .arg(&pki.client_key);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    child.stdin.take()?.write_all(request.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("HTTP/"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

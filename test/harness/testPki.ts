import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/**
 * A fresh, throwaway PKI for one test control plane (issue 11), made with openssl: a CA valid for
 * two days, one serving certificate for 127.0.0.1 (API server, scheduler, kwok's kubelet server),
 * an admin client certificate in `system:masters`, and the service-account signing key. ECDSA P-256
 * keys, because they are generated in milliseconds. Another cluster on this machine never shares
 * a certificate with ours.
 */

/** Files (and PEM texts) of a {@link makeTestPki} PKI. */
export interface TestPki {
    caCert: string;
    caKey: string;
    servingCert: string;
    servingKey: string;
    adminCert: string;
    adminKey: string;
    serviceAccountKey: string;
    caPem: string;
    adminCertPem: string;
    adminKeyPem: string;
}

/** Creates the PKI in DIR (made mode 700). */
export function makeTestPki(dir: string): TestPki {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const f = (name: string) => path.join(dir, name);
    const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl("req", "-x509", ...ec, "-keyout", f("ca.key"), "-out", f("ca.crt"), "-days", "2", "-subj", "/CN=gpu-minikube-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature");
    const leaf = (name: string, subj: string, ext: string[]) => openssl("req", "-x509", "-CA", f("ca.crt"), "-CAkey", f("ca.key"), ...ec,
        "-keyout", f(`${name}.key`), "-out", f(`${name}.crt`), "-days", "2", "-subj", subj,
        "-addext", "basicConstraints=critical,CA:FALSE", "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
        ...ext.flatMap((e) => ["-addext", e]));
    leaf("serving", "/CN=gpu-minikube-test-apiserver", ["extendedKeyUsage=serverAuth", "subjectAltName=IP:127.0.0.1,IP:10.96.0.1"]);
    leaf("admin", "/O=system:masters/CN=gpu-minikube-test-admin", ["extendedKeyUsage=clientAuth"]);
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f("sa.key"));
    for (const file of fs.readdirSync(dir)) fs.chmodSync(f(file), 0o600);
    return {
        caCert: f("ca.crt"), caKey: f("ca.key"),
        servingCert: f("serving.crt"), servingKey: f("serving.key"),
        adminCert: f("admin.crt"), adminKey: f("admin.key"),
        serviceAccountKey: f("sa.key"),
        caPem: fs.readFileSync(f("ca.crt"), "utf8"),
        adminCertPem: fs.readFileSync(f("admin.crt"), "utf8"),
        adminKeyPem: fs.readFileSync(f("admin.key"), "utf8"),
    };
}

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UserError } from '../errors.ts';
import { quote } from '../cli/validate.ts';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END CERTIFICATE-----/g;

export type CaCertificate = {
  /** The certificates, re-assembled: PEM blocks only, one after the other. */
  pem: string;
  count: number;
  /** The earliest expiry among the certificates. */
  validTo: Date;
};

/** Reads a CA bundle (a cluster's, a self-managed GitLab's): one or more PEM certificates, nothing secret. */
export function readCaFile(file: string): CaCertificate {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UserError(`cannot read the CA file ${quote(file)}`);
  }
  if (/PRIVATE KEY-----/.test(text)) {
    throw new UserError(
      `the CA file ${quote(file)} contains a private key: give the CA certificate only`,
    );
  }
  const blocks = [...text.matchAll(PEM_BLOCK)].map((m) => m[0].replace(/\r\n/g, '\n'));
  if (blocks.length === 0) {
    throw new UserError(
      `the CA file ${quote(file)} is not a PEM certificate (expected -----BEGIN CERTIFICATE-----)`,
    );
  }
  let validTo: Date | undefined;
  for (const block of blocks) {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(block);
    } catch {
      throw new UserError(`the CA file ${quote(file)} holds a malformed certificate`);
    }
    const expiry = certificate.validToDate;
    if (!validTo || expiry < validTo) validTo = expiry;
  }
  return { pem: `${blocks.join('\n')}\n`, count: blocks.length, validTo: validTo as Date };
}

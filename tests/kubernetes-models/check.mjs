// Reads a JSON array of Kubernetes objects on stdin; prints, for each, the errors that the model
// package of its apiVersion (validators compiled from the CRD schemas) finds, or none.
import { readFileSync } from "node:fs";

const PACKAGES = {
  "argoproj.io/v1alpha1": "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};

const input = JSON.parse(readFileSync(0, "utf8"));
const out = [];
for (const obj of input) {
  const pkg = PACKAGES[obj.apiVersion];
  const Model = pkg ? (await import(pkg))[obj.kind] : undefined;
  if (!Model) {
    out.push({ kind: obj.kind, errors: [`no model for ${obj.apiVersion} ${obj.kind}`] });
    continue;
  }
  try {
    new Model(obj).validate();
    out.push({ kind: obj.kind, errors: [] });
  } catch (err) {
    const details = (err.errors || []).map((e) => `${e.instancePath || "/"} ${e.message}`);
    out.push({ kind: obj.kind, errors: details.length ? details : [String(err.message || err)] });
  }
}
process.stdout.write(JSON.stringify(out));

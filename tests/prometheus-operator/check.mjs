// Reads a JSON array of Prometheus Operator objects on stdin; prints, for each, the errors that
// the package's validator (compiled from the operator's CRD schemas) finds, or none.
import { readFileSync } from "node:fs";
import * as models from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const input = JSON.parse(readFileSync(0, "utf8"));
const out = input.map((obj) => {
  const Model = models[obj.kind];
  if (!Model) return { kind: obj.kind, errors: [`no model for kind ${obj.kind}`] };
  try {
    new Model(obj).validate();
    return { kind: obj.kind, errors: [] };
  } catch (err) {
    const details = (err.errors || []).map((e) => `${e.instancePath || "/"} ${e.message}`);
    return { kind: obj.kind, errors: details.length ? details : [String(err.message || err)] };
  }
});
process.stdout.write(JSON.stringify(out));

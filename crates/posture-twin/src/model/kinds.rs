//! The shapes of the built-in kinds' Go types (see [`super::shape`]), field by field as in
//! `k8s.io/api`. Subtrees the twin never needs to normalize (affinity terms, volume sources
//! other than the common ones, node status) are [`Shape::Keep`] and pass unchanged.

use super::shape::Shape::{Items, Keep, List, Map, Ptr, Val, Value, Zero};
use super::shape::Struct;

pub(crate) static OBJECT_META: Struct = Struct(&[
    ("name", Val),
    ("generateName", Val),
    ("namespace", Val),
    ("selfLink", Val),
    ("uid", Val),
    ("resourceVersion", Val),
    ("generation", Val),
    ("creationTimestamp", Keep),
    ("deletionTimestamp", Keep),
    ("deletionGracePeriodSeconds", Keep),
    ("labels", Map),
    ("annotations", Map),
    ("ownerReferences", Items(&OWNER_REFERENCE)),
    ("finalizers", List),
    ("managedFields", List),
]);

static OWNER_REFERENCE: Struct = Struct(&[
    ("apiVersion", Keep),
    ("kind", Keep),
    ("name", Keep),
    ("uid", Keep),
    ("controller", Keep),
    ("blockOwnerDeletion", Keep),
]);

pub(crate) static LABEL_SELECTOR: Struct = Struct(&[
    ("matchLabels", Map),
    ("matchExpressions", Items(&SELECTOR_REQUIREMENT)),
]);

static SELECTOR_REQUIREMENT: Struct =
    Struct(&[("key", Keep), ("operator", Keep), ("values", List)]);

pub(crate) static POD_TEMPLATE: Struct = Struct(&[
    ("metadata", Value(&OBJECT_META)),
    ("spec", Value(&POD_SPEC)),
]);

pub(crate) static POD_SPEC: Struct = Struct(&[
    ("volumes", Items(&VOLUME)),
    ("initContainers", Items(&CONTAINER)),
    ("containers", Items(&CONTAINER)),
    ("ephemeralContainers", Items(&CONTAINER)),
    ("restartPolicy", Val),
    ("terminationGracePeriodSeconds", Keep),
    ("activeDeadlineSeconds", Keep),
    ("dnsPolicy", Val),
    ("nodeSelector", Map),
    ("serviceAccountName", Val),
    ("serviceAccount", Val),
    ("automountServiceAccountToken", Keep),
    ("nodeName", Val),
    ("hostNetwork", Val),
    ("hostPID", Val),
    ("hostIPC", Val),
    ("shareProcessNamespace", Keep),
    ("securityContext", Ptr(&OPAQUE)),
    ("imagePullSecrets", Items(&OPAQUE)),
    ("hostname", Val),
    ("subdomain", Val),
    ("affinity", Ptr(&AFFINITY)),
    ("schedulerName", Val),
    ("tolerations", Items(&TOLERATION)),
    ("hostAliases", Items(&OPAQUE)),
    ("priorityClassName", Val),
    ("priority", Keep),
    ("dnsConfig", Ptr(&OPAQUE)),
    ("readinessGates", Items(&OPAQUE)),
    ("runtimeClassName", Keep),
    ("enableServiceLinks", Keep),
    ("preemptionPolicy", Keep),
    ("overhead", Map),
    ("topologySpreadConstraints", Items(&OPAQUE)),
    ("setHostnameAsFQDN", Keep),
    ("os", Ptr(&OPAQUE)),
]);

/// A struct whose fields are all kept as sent.
static OPAQUE: Struct = Struct(&[]);

static AFFINITY: Struct = Struct(&[
    ("nodeAffinity", Ptr(&OPAQUE)),
    ("podAffinity", Ptr(&OPAQUE)),
    ("podAntiAffinity", Ptr(&OPAQUE)),
]);

static TOLERATION: Struct = Struct(&[
    ("key", Val),
    ("operator", Val),
    ("value", Val),
    ("effect", Val),
    ("tolerationSeconds", Keep),
]);

pub(crate) static CONTAINER: Struct = Struct(&[
    ("name", Keep),
    ("image", Val),
    ("command", List),
    ("args", List),
    ("workingDir", Val),
    ("ports", Items(&CONTAINER_PORT)),
    ("envFrom", Items(&OPAQUE)),
    ("env", Items(&ENV_VAR)),
    ("resources", Value(&RESOURCES)),
    ("volumeMounts", Items(&VOLUME_MOUNT)),
    ("volumeDevices", Items(&OPAQUE)),
    ("livenessProbe", Ptr(&PROBE)),
    ("readinessProbe", Ptr(&PROBE)),
    ("startupProbe", Ptr(&PROBE)),
    ("lifecycle", Ptr(&LIFECYCLE)),
    ("terminationMessagePath", Val),
    ("terminationMessagePolicy", Val),
    ("imagePullPolicy", Val),
    ("securityContext", Ptr(&OPAQUE)),
    ("stdin", Val),
    ("stdinOnce", Val),
    ("tty", Val),
]);

static CONTAINER_PORT: Struct = Struct(&[
    ("name", Val),
    ("hostPort", Val),
    ("containerPort", Keep),
    ("protocol", Val),
    ("hostIP", Val),
]);

static ENV_VAR: Struct = Struct(&[
    ("name", Keep),
    ("value", Val),
    ("valueFrom", Ptr(&ENV_VAR_SOURCE)),
]);

static ENV_VAR_SOURCE: Struct = Struct(&[
    ("fieldRef", Ptr(&FIELD_REF)),
    ("resourceFieldRef", Ptr(&OPAQUE)),
    ("configMapKeyRef", Ptr(&OPAQUE)),
    ("secretKeyRef", Ptr(&OPAQUE)),
]);

static FIELD_REF: Struct = Struct(&[("apiVersion", Val), ("fieldPath", Keep)]);

pub(crate) static RESOURCES: Struct = Struct(&[("limits", Map), ("requests", Map)]);

static VOLUME_MOUNT: Struct = Struct(&[
    ("name", Keep),
    ("readOnly", Val),
    ("mountPath", Keep),
    ("subPath", Val),
    ("mountPropagation", Keep),
    ("subPathExpr", Val),
]);

pub(crate) static PROBE: Struct = Struct(&[
    ("exec", Ptr(&EXEC)),
    ("httpGet", Ptr(&HTTP_GET)),
    ("tcpSocket", Ptr(&TCP_SOCKET)),
    ("grpc", Ptr(&OPAQUE)),
    ("initialDelaySeconds", Val),
    ("timeoutSeconds", Val),
    ("periodSeconds", Val),
    ("successThreshold", Val),
    ("failureThreshold", Val),
    ("terminationGracePeriodSeconds", Keep),
]);

static EXEC: Struct = Struct(&[("command", List)]);

static HTTP_GET: Struct = Struct(&[
    ("path", Val),
    ("port", Keep),
    ("host", Val),
    ("scheme", Val),
    ("httpHeaders", Items(&OPAQUE)),
]);

static TCP_SOCKET: Struct = Struct(&[("port", Keep), ("host", Val)]);

static LIFECYCLE: Struct = Struct(&[("postStart", Ptr(&HANDLER)), ("preStop", Ptr(&HANDLER))]);

static HANDLER: Struct = Struct(&[
    ("exec", Ptr(&EXEC)),
    ("httpGet", Ptr(&HTTP_GET)),
    ("tcpSocket", Ptr(&TCP_SOCKET)),
]);

static VOLUME: Struct = Struct(&[
    ("name", Keep),
    ("hostPath", Ptr(&OPAQUE)),
    ("emptyDir", Ptr(&EMPTY_DIR)),
    ("secret", Ptr(&SECRET_VOLUME)),
    ("persistentVolumeClaim", Ptr(&PVC_VOLUME)),
    ("configMap", Ptr(&CONFIG_MAP_VOLUME)),
    ("projected", Ptr(&OPAQUE)),
    ("downwardAPI", Ptr(&OPAQUE)),
    ("csi", Ptr(&OPAQUE)),
    ("nfs", Ptr(&OPAQUE)),
    ("ephemeral", Ptr(&OPAQUE)),
]);

static EMPTY_DIR: Struct = Struct(&[("medium", Val), ("sizeLimit", Keep)]);

static SECRET_VOLUME: Struct = Struct(&[
    ("secretName", Val),
    ("items", Items(&OPAQUE)),
    ("defaultMode", Keep),
    ("optional", Keep),
]);

static PVC_VOLUME: Struct = Struct(&[("claimName", Keep), ("readOnly", Val)]);

static CONFIG_MAP_VOLUME: Struct = Struct(&[
    ("name", Val),
    ("items", Items(&OPAQUE)),
    ("defaultMode", Keep),
    ("optional", Keep),
]);

// ---------------------------------------------------------------- apps/v1

static DEPLOYMENT: Struct = Struct(&[
    ("metadata", Value(&OBJECT_META)),
    ("spec", Value(&DEPLOYMENT_SPEC)),
    ("status", Value(&OPAQUE)),
]);

static DEPLOYMENT_SPEC: Struct = Struct(&[
    ("replicas", Keep),
    ("selector", Ptr(&LABEL_SELECTOR)),
    ("template", Value(&POD_TEMPLATE)),
    ("strategy", Value(&DEPLOYMENT_STRATEGY)),
    ("minReadySeconds", Val),
    ("revisionHistoryLimit", Keep),
    ("paused", Val),
    ("progressDeadlineSeconds", Keep),
]);

static DEPLOYMENT_STRATEGY: Struct = Struct(&[("type", Val), ("rollingUpdate", Ptr(&OPAQUE))]);

static REPLICA_SET: Struct = Struct(&[
    ("metadata", Value(&OBJECT_META)),
    ("spec", Value(&REPLICA_SET_SPEC)),
    ("status", Value(&OPAQUE)),
]);

static REPLICA_SET_SPEC: Struct = Struct(&[
    ("replicas", Keep),
    ("minReadySeconds", Val),
    ("selector", Ptr(&LABEL_SELECTOR)),
    ("template", Value(&POD_TEMPLATE)),
]);

static STATEFUL_SET: Struct = Struct(&[
    ("metadata", Value(&OBJECT_META)),
    ("spec", Value(&STATEFUL_SET_SPEC)),
    ("status", Value(&OPAQUE)),
]);

static STATEFUL_SET_SPEC: Struct = Struct(&[
    ("replicas", Keep),
    ("selector", Ptr(&LABEL_SELECTOR)),
    ("template", Value(&POD_TEMPLATE)),
    ("volumeClaimTemplates", Items(&PVC)),
    ("serviceName", Keep),
    ("podManagementPolicy", Val),
    ("updateStrategy", Value(&SET_UPDATE_STRATEGY)),
    ("revisionHistoryLimit", Keep),
    ("minReadySeconds", Val),
    ("persistentVolumeClaimRetentionPolicy", Ptr(&OPAQUE)),
]);

static SET_UPDATE_STRATEGY: Struct = Struct(&[("type", Val), ("rollingUpdate", Ptr(&OPAQUE))]);

static DAEMON_SET: Struct = Struct(&[
    ("metadata", Value(&OBJECT_META)),
    ("spec", Value(&DAEMON_SET_SPEC)),
    ("status", Value(&OPAQUE)),
]);

static DAEMON_SET_SPEC: Struct = Struct(&[
    ("selector", Ptr(&LABEL_SELECTOR)),
    ("template", Value(&POD_TEMPLATE)),
    ("updateStrategy", Value(&SET_UPDATE_STRATEGY)),
    ("minReadySeconds", Val),
    ("revisionHistoryLimit", Keep),
]);

// ---------------------------------------------------------------- core/v1

static POD: Struct = Struct(&[
    ("metadata", Value(&OBJECT_META)),
    ("spec", Value(&POD_SPEC)),
    ("status", Value(&OPAQUE)),
]);

static SERVICE: Struct = Struct(&[
    ("metadata", Value(&OBJECT_META)),
    ("spec", Value(&SERVICE_SPEC)),
    ("status", Value(&SERVICE_STATUS)),
]);

static SERVICE_SPEC: Struct = Struct(&[
    ("ports", Items(&SERVICE_PORT)),
    ("selector", Map),
    ("clusterIP", Val),
    ("clusterIPs", List),
    ("type", Val),
    ("externalIPs", List),
    ("sessionAffinity", Val),
    ("loadBalancerIP", Val),
    ("loadBalancerSourceRanges", List),
    ("externalName", Val),
    ("externalTrafficPolicy", Val),
    ("healthCheckNodePort", Val),
    ("publishNotReadyAddresses", Val),
    ("sessionAffinityConfig", Ptr(&OPAQUE)),
    ("ipFamilies", List),
    ("ipFamilyPolicy", Keep),
    ("allocateLoadBalancerNodePorts", Keep),
    ("loadBalancerClass", Keep),
    ("internalTrafficPolicy", Keep),
]);

static SERVICE_PORT: Struct = Struct(&[
    ("name", Val),
    ("protocol", Val),
    ("appProtocol", Keep),
    ("port", Keep),
    ("targetPort", Val),
    ("nodePort", Val),
]);

static SERVICE_STATUS: Struct = Struct(&[
    ("loadBalancer", Value(&LOAD_BALANCER_STATUS)),
    ("conditions", Items(&OPAQUE)),
]);

static LOAD_BALANCER_STATUS: Struct = Struct(&[("ingress", Items(&OPAQUE))]);

static CONFIG_MAP: Struct = Struct(&[
    ("metadata", Value(&OBJECT_META)),
    ("immutable", Keep),
    ("data", Map),
    ("binaryData", Map),
]);

static SECRET: Struct = Struct(&[
    ("metadata", Value(&OBJECT_META)),
    ("immutable", Keep),
    ("data", Map),
    ("stringData", Map),
    ("type", Val),
]);

static PVC: Struct = Struct(&[
    ("metadata", Value(&OBJECT_META)),
    ("spec", Value(&PVC_SPEC)),
    ("status", Value(&OPAQUE)),
]);

static PVC_SPEC: Struct = Struct(&[
    ("accessModes", List),
    ("selector", Ptr(&LABEL_SELECTOR)),
    ("resources", Value(&RESOURCES)),
    ("volumeName", Val),
    ("storageClassName", Keep),
    ("volumeMode", Keep),
    ("dataSource", Ptr(&OPAQUE)),
    ("dataSourceRef", Ptr(&OPAQUE)),
]);

static NAMESPACE: Struct = Struct(&[
    ("metadata", Value(&OBJECT_META)),
    ("spec", Value(&NAMESPACE_SPEC)),
    ("status", Value(&OPAQUE)),
]);

static NAMESPACE_SPEC: Struct = Struct(&[("finalizers", List)]);

static NODE: Struct = Struct(&[
    ("metadata", Value(&OBJECT_META)),
    ("spec", Value(&NODE_SPEC)),
    ("status", Value(&OPAQUE)),
]);

static NODE_SPEC: Struct = Struct(&[
    ("podCIDR", Val),
    ("podCIDRs", List),
    ("providerID", Val),
    ("unschedulable", Val),
    ("taints", Items(&TAINT)),
    ("configSource", Ptr(&OPAQUE)),
    ("externalID", Val),
]);

static TAINT: Struct = Struct(&[
    ("key", Keep),
    ("value", Val),
    ("effect", Keep),
    ("timeAdded", Keep),
]);

static SERVICE_ACCOUNT: Struct = Struct(&[
    ("metadata", Value(&OBJECT_META)),
    ("secrets", Items(&OPAQUE)),
    ("imagePullSecrets", Items(&OPAQUE)),
    ("automountServiceAccountToken", Keep),
]);

// ---------------------------------------------------------------- other groups

static PDB: Struct = Struct(&[
    ("metadata", Value(&OBJECT_META)),
    ("spec", Value(&PDB_SPEC)),
    ("status", Value(&PDB_STATUS)),
]);

static PDB_SPEC: Struct = Struct(&[
    ("minAvailable", Keep),
    ("selector", Ptr(&LABEL_SELECTOR)),
    ("maxUnavailable", Keep),
]);

static PDB_STATUS: Struct = Struct(&[
    ("observedGeneration", Val),
    ("disruptedPods", Map),
    ("disruptionsAllowed", Zero),
    ("currentHealthy", Zero),
    ("desiredHealthy", Zero),
    ("expectedPods", Zero),
    ("conditions", Items(&OPAQUE)),
]);

static LEASE: Struct = Struct(&[
    ("metadata", Value(&OBJECT_META)),
    ("spec", Value(&LEASE_SPEC)),
]);

static LEASE_SPEC: Struct = Struct(&[
    ("holderIdentity", Keep),
    ("leaseDurationSeconds", Keep),
    ("acquireTime", Keep),
    ("renewTime", Keep),
    ("leaseTransitions", Keep),
]);

/// Kinds without a table of their own: only their metadata follows the rules.
static METADATA_ONLY: Struct = Struct(&[("metadata", Value(&OBJECT_META))]);

/// The shape of a whole object of a built-in kind, by group and kind.
pub(crate) fn of(group: &str, kind: &str) -> &'static Struct {
    match (group, kind) {
        ("apps", "Deployment") => &DEPLOYMENT,
        ("apps", "ReplicaSet") => &REPLICA_SET,
        ("apps", "StatefulSet") => &STATEFUL_SET,
        ("apps", "DaemonSet") => &DAEMON_SET,
        ("", "Pod") => &POD,
        ("", "Service") => &SERVICE,
        ("", "ConfigMap") => &CONFIG_MAP,
        ("", "Secret") => &SECRET,
        ("", "PersistentVolumeClaim") => &PVC,
        ("", "Namespace") => &NAMESPACE,
        ("", "Node") => &NODE,
        ("", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("policy", "PodDisruptionBudget") => &PDB,
        ("coordination.k8s.io", "Lease") => &LEASE,
        _ => &METADATA_ONLY,
    }
}

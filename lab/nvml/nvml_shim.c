/*
 * libnvidia-ml.so.1 for lab hosts: answers the read-only part of the NVML API from the
 * simulated driver state in the view file (format: VIEW_FORMAT.md).  The file is parsed
 * again on every call that needs state, so a running process sees every change nvsim makes.
 * Signatures and struct layouts follow NVIDIA's nvml.h; see README.md for what is covered.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVML_EXPORT __attribute__((visibility("default")))

typedef int nvmlReturn_t;
enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4,
    NVML_ERROR_ALREADY_INITIALIZED = 5,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
    NVML_ERROR_UNKNOWN = 999,
};

/* nvml.h sizes and struct versions: NVML_STRUCT_VERSION(x, v) = sizeof(x_v_t) | v << 24 */
#define NVML_DEVICE_NAME_V2_BUFFER_SIZE 96
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE 96
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE 32
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE 16
#define NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE 80
#define NVML_GPU_INSTANCE_PROFILE_COUNT 0x12
#define nvmlMemory_v2 0x02000028u
#define nvmlGpuInstanceProfileInfo_v2 0x02000098u

typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlGpuInstance_st *nvmlGpuInstance_t;
typedef struct nvmlComputeInstance_st *nvmlComputeInstance_t;

typedef struct {
    char busIdLegacy[NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
} nvmlPciInfo_t;

typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

typedef struct { unsigned int start, size; } nvmlGpuInstancePlacement_t;

typedef struct {
    unsigned int id, isP2pSupported, sliceCount, instanceCount, multiprocessorCount,
        copyEngineCount, decoderCount, encoderCount, jpegCount, ofaCount;
    unsigned long long memorySizeMB;
} nvmlGpuInstanceProfileInfo_t;

typedef struct {
    unsigned int version, id, isP2pSupported, sliceCount, instanceCount, multiprocessorCount,
        copyEngineCount, decoderCount, encoderCount, jpegCount, ofaCount;
    unsigned long long memorySizeMB;
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
} nvmlGpuInstanceProfileInfo_v2_t;

typedef struct {
    nvmlDevice_t device;
    unsigned int id, profileId;
    nvmlGpuInstancePlacement_t placement;
} nvmlGpuInstanceInfo_t;

/* ------------------------------------------------------------------ view file */

#define MAX_GPUS 32
#define MAX_PROFILE_INDEX 32
#define MAX_PLACEMENTS 16
#define MAX_GIS 16
#define MAX_MIGDEVS 16
#define TEXT 96

typedef struct {
    int present;
    unsigned int id, p2p, slices, instances, sms, ce, dec, enc, jpeg, ofa;
    unsigned long long mem_mb;
    char name[TEXT];
    unsigned int nplace;
    nvmlGpuInstancePlacement_t place[MAX_PLACEMENTS];
} view_profile;

typedef struct { unsigned int id, profile_id, start, size; } view_gi;

typedef struct {
    unsigned int index, gi, ci;
    char uuid[TEXT];
    unsigned long long mem_mib;
    char name[TEXT];
} view_migdev;

/* A compute instance profile offered inside GPU instances of one GI profile. */
typedef struct { unsigned int gi_profile_id, id, slices, instances, sms; } view_ciprofile;
typedef struct { unsigned int gi, id, profile_id, start, size; } view_ci;
#define MAX_CIPROFILES 64

typedef struct {
    char uuid[TEXT], name[TEXT], bus_id[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
    unsigned int mig_current, mig_pending, nprofiles, ngis, nmigdevs, nciprofiles, ncis;
    unsigned int pci_device_id, pci_sub_system_id; /* 0 when the view does not give them */
    unsigned long long mem_total;
    view_profile profile[MAX_PROFILE_INDEX];
    view_gi gi[MAX_GIS];
    view_migdev migdev[MAX_MIGDEVS];
    view_ciprofile ciprofile[MAX_CIPROFILES];
    view_ci ci[MAX_MIGDEVS];
} view_gpu;

typedef struct {
    char driver[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
    unsigned int ngpus;
    view_gpu gpu[MAX_GPUS];
} view_t;

static const char *view_path(void)
{
    const char *p = getenv("NVSIM_NVML_VIEW");
    return (p && *p) ? p : "/var/lib/nvsim/nvml.view";
}

static int view_fail(const char *path, int lineno, const char *why, const char *line)
{
    if (lineno)
        fprintf(stderr, "libnvidia-ml (nvsim): %s:%d: %s: '%s'\n", path, lineno, why, line);
    else
        fprintf(stderr, "libnvidia-ml (nvsim): %s: %s\n", path, why);
    return -1;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_u32(const char *s, unsigned int *out)
{
    unsigned long long v;
    if (parse_uint(s, 0xffffffffull, &v))
        return -1;
    *out = (unsigned int)v;
    return 0;
}

static int copy_text(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n == 0 || n >= size)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* "0:1,1:1" -> placements; an empty field means none */
static int parse_placements(char *s, view_profile *p)
{
    p->nplace = 0;
    if (!*s)
        return 0;
    char *save = NULL;
    for (char *item = strtok_r(s, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        if (!colon || p->nplace == MAX_PLACEMENTS)
            return -1;
        *colon = 0;
        nvmlGpuInstancePlacement_t *pl = &p->place[p->nplace++];
        if (parse_u32(item, &pl->start) || parse_u32(colon + 1, &pl->size))
            return -1;
    }
    return 0;
}

static view_gpu *record_gpu(view_t *v, const char *field)
{
    unsigned int idx;
    if (parse_u32(field, &idx) || idx >= v->ngpus)
        return NULL;
    return &v->gpu[idx];
}

/* fields[0] is the record type; returns NULL when fine, else why the line is rejected */
static const char *parse_record(view_t *v, char **f, int n)
{
    const char *kind = f[0];
    if (!strcmp(kind, "driver")) {
        if (n != 2 || copy_text(v->driver, sizeof v->driver, f[1]))
            return "bad driver record";
        return NULL;
    }
    if (!strcmp(kind, "gpu")) {
        unsigned int idx;
        if (n != 8 && n != 10)
            return "gpu record needs 7 fields, or 9 with the PCI IDs";
        if (parse_u32(f[1], &idx) || idx != v->ngpus || idx >= MAX_GPUS)
            return "gpu indexes must run 0,1,2,... in order";
        view_gpu *g = &v->gpu[idx];
        if (copy_text(g->uuid, sizeof g->uuid, f[2]) || copy_text(g->name, sizeof g->name, f[3]) ||
            copy_text(g->bus_id, sizeof g->bus_id, f[4]) || parse_u32(f[5], &g->mig_current) ||
            parse_u32(f[6], &g->mig_pending) || g->mig_current > 1 || g->mig_pending > 1 ||
            parse_uint(f[7], ~0ull, &g->mem_total))
            return "bad gpu record";
        unsigned long long ids[2] = {0, 0};
        for (int i = 0; n == 10 && i < 2; i++)
            if (parse_uint(f[8 + i], 0xffffffffull, &ids[i]))
                return "bad PCI ID in gpu record";
        g->pci_device_id = (unsigned int)ids[0];
        g->pci_sub_system_id = (unsigned int)ids[1];
        v->ngpus++;
        return NULL;
    }
    if (!strcmp(kind, "profile")) {
        unsigned int pidx;
        view_gpu *g;
        if (n != 16)
            return "profile record needs 15 fields";
        if (!(g = record_gpu(v, f[1])))
            return "profile for a GPU with no gpu line before it";
        if (parse_u32(f[2], &pidx) || pidx >= MAX_PROFILE_INDEX)
            return "bad profile index";
        view_profile *p = &g->profile[pidx];
        unsigned int *nums[] = {&p->id, &p->p2p, &p->slices, &p->instances, &p->sms,
                                &p->ce, &p->dec, &p->enc, &p->jpeg, &p->ofa};
        for (int i = 0; i < 10; i++)
            if (parse_u32(f[3 + i], nums[i]))
                return "bad number in profile record";
        if (parse_uint(f[13], ~0ull, &p->mem_mb) || copy_text(p->name, sizeof p->name, f[14]) ||
            parse_placements(f[15], p))
            return "bad profile record";
        if (p->present)
            return "profile index given twice";
        p->present = 1;
        g->nprofiles++;
        return NULL;
    }
    if (!strcmp(kind, "gi")) {
        view_gpu *g;
        if (n != 6)
            return "gi record needs 5 fields";
        if (!(g = record_gpu(v, f[1])))
            return "gi for a GPU with no gpu line before it";
        if (g->ngis == MAX_GIS)
            return "too many gi records for one GPU";
        view_gi *gi = &g->gi[g->ngis];
        if (parse_u32(f[2], &gi->id) || parse_u32(f[3], &gi->profile_id) ||
            parse_u32(f[4], &gi->start) || parse_u32(f[5], &gi->size))
            return "bad gi record";
        g->ngis++;
        return NULL;
    }
    if (!strcmp(kind, "migdev")) {
        view_gpu *g;
        if (n != 8)
            return "migdev record needs 7 fields";
        if (!(g = record_gpu(v, f[1])))
            return "migdev for a GPU with no gpu line before it";
        if (g->nmigdevs == MAX_MIGDEVS)
            return "too many migdev records for one GPU";
        view_migdev *m = &g->migdev[g->nmigdevs];
        if (parse_u32(f[2], &m->index) || parse_u32(f[3], &m->gi) || parse_u32(f[4], &m->ci) ||
            copy_text(m->uuid, sizeof m->uuid, f[5]) || parse_uint(f[6], ~0ull, &m->mem_mib) ||
            copy_text(m->name, sizeof m->name, f[7]))
            return "bad migdev record";
        g->nmigdevs++;
        return NULL;
    }
    if (!strcmp(kind, "ciprofile")) {
        view_gpu *g;
        if (n != 7)
            return "ciprofile record needs 6 fields";
        if (!(g = record_gpu(v, f[1])))
            return "ciprofile for a GPU with no gpu line before it";
        if (g->nciprofiles == MAX_CIPROFILES)
            return "too many ciprofile records for one GPU";
        view_ciprofile *c = &g->ciprofile[g->nciprofiles];
        unsigned int *nums[] = {&c->gi_profile_id, &c->id, &c->slices, &c->instances, &c->sms};
        for (int i = 0; i < 5; i++)
            if (parse_u32(f[2 + i], nums[i]))
                return "bad number in ciprofile record";
        g->nciprofiles++;
        return NULL;
    }
    if (!strcmp(kind, "ci")) {
        view_gpu *g;
        if (n != 7)
            return "ci record needs 6 fields";
        if (!(g = record_gpu(v, f[1])))
            return "ci for a GPU with no gpu line before it";
        if (g->ncis == MAX_MIGDEVS)
            return "too many ci records for one GPU";
        view_ci *c = &g->ci[g->ncis];
        unsigned int *nums[] = {&c->gi, &c->id, &c->profile_id, &c->start, &c->size};
        for (int i = 0; i < 5; i++)
            if (parse_u32(f[2 + i], nums[i]))
                return "bad number in ci record";
        g->ncis++;
        return NULL;
    }
    return "unknown record type";
}

/* Reads and checks the whole view; NULL (after a message on stderr) when it cannot be used. */
static view_t *view_load(void)
{
    const char *path = view_path();
    FILE *fp = fopen(path, "r");
    if (!fp) {
        view_fail(path, 0, strerror(errno), NULL);
        return NULL;
    }
    view_t *v = calloc(1, sizeof *v);
    char *line = NULL, *copy = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, ok = v != NULL;
    while (ok && (len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        if (len && line[len - 1] == '\n')
            line[--len] = 0;
        if (len && line[len - 1] == '\r')
            line[--len] = 0;
        if (!len || line[0] == '#')
            continue;
        free(copy);
        copy = strdup(line);
        char *fields[20];
        int n = 0;
        for (char *s = line, *tab;; s = tab + 1) {
            if (n == 20) {
                ok = 0;
                break;
            }
            fields[n++] = s;
            if (!(tab = strchr(s, '\t')))
                break;
            *tab = 0;
        }
        const char *why = ok ? parse_record(v, fields, n) : "too many fields";
        if (why)
            ok = view_fail(path, lineno, why, copy) == 0;
    }
    if (ok && !v->driver[0])
        ok = view_fail(path, 0, "no driver record", NULL) == 0;
    free(line);
    free(copy);
    fclose(fp);
    if (!ok) {
        free(v);
        return NULL;
    }
    return v;
}

/* ------------------------------------------------------------------ handles */

/* GPU handles are fixed per index; a MIG handle names its device by UUID so that it
 * keeps pointing at the same MIG device (or at nothing) whatever nvsim changes. */
struct nvmlDevice_st {
    unsigned int gpu;
    int is_mig;
    char mig_uuid[TEXT];
};
#define MAX_MIG_HANDLES 256
static struct nvmlDevice_st gpu_handles[MAX_GPUS];
static struct nvmlDevice_st mig_handles[MAX_MIG_HANDLES];
static unsigned int mig_handles_used;

struct nvmlGpuInstance_st {
    unsigned int gpu, id;
};
#define MAX_GI_HANDLES 256
static struct nvmlGpuInstance_st gi_handles[MAX_GI_HANDLES];
static unsigned int gi_handles_used;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int init_count;

static int initialized(void)
{
    pthread_mutex_lock(&lock);
    int yes = init_count > 0;
    pthread_mutex_unlock(&lock);
    return yes;
}

static nvmlDevice_t mig_handle_for(unsigned int gpu, const char *uuid)
{
    nvmlDevice_t h = NULL;
    pthread_mutex_lock(&lock);
    for (unsigned int i = 0; i < mig_handles_used && !h; i++)
        if (mig_handles[i].gpu == gpu && !strcmp(mig_handles[i].mig_uuid, uuid))
            h = &mig_handles[i];
    if (!h && mig_handles_used < MAX_MIG_HANDLES) {
        h = &mig_handles[mig_handles_used++];
        h->gpu = gpu;
        h->is_mig = 1;
        snprintf(h->mig_uuid, sizeof h->mig_uuid, "%s", uuid);
    }
    pthread_mutex_unlock(&lock);
    return h;
}

static nvmlGpuInstance_t gi_handle_for(unsigned int gpu, unsigned int id)
{
    nvmlGpuInstance_t h = NULL;
    pthread_mutex_lock(&lock);
    for (unsigned int i = 0; i < gi_handles_used && !h; i++)
        if (gi_handles[i].gpu == gpu && gi_handles[i].id == id)
            h = &gi_handles[i];
    if (!h && gi_handles_used < MAX_GI_HANDLES) {
        h = &gi_handles[gi_handles_used++];
        h->gpu = gpu;
        h->id = id;
    }
    pthread_mutex_unlock(&lock);
    return h;
}

static int is_gpu_handle(nvmlDevice_t d)
{
    return d >= gpu_handles && d < gpu_handles + MAX_GPUS;
}

static int is_mig_handle(nvmlDevice_t d)
{
    return d >= mig_handles && d < mig_handles + MAX_MIG_HANDLES && d->is_mig;
}

/* One call's state: the loaded view plus what the handle resolves to in it. */
typedef struct {
    view_t *view;
    view_gpu *gpu;
    view_migdev *mig; /* NULL for a GPU handle */
    unsigned int gpu_index;
} lookup_t;

static nvmlReturn_t load(lookup_t *l)
{
    memset(l, 0, sizeof *l);
    if (!initialized())
        return NVML_ERROR_UNINITIALIZED;
    l->view = view_load();
    return l->view ? NVML_SUCCESS : NVML_ERROR_UNKNOWN;
}

static view_migdev *find_migdev_by_uuid(view_gpu *g, const char *uuid)
{
    for (unsigned int i = 0; i < g->nmigdevs; i++)
        if (!strcmp(g->migdev[i].uuid, uuid))
            return &g->migdev[i];
    return NULL;
}

/* Loads the view and resolves a GPU or MIG handle; stale and foreign handles are invalid. */
static nvmlReturn_t resolve(nvmlDevice_t d, lookup_t *l)
{
    nvmlReturn_t rc = load(l);
    if (rc)
        return rc;
    if (!is_gpu_handle(d) && !is_mig_handle(d))
        return NVML_ERROR_INVALID_ARGUMENT;
    l->gpu_index = is_gpu_handle(d) ? (unsigned int)(d - gpu_handles) : d->gpu;
    if (l->gpu_index >= l->view->ngpus)
        return NVML_ERROR_INVALID_ARGUMENT;
    l->gpu = &l->view->gpu[l->gpu_index];
    if (is_mig_handle(d) && !(l->mig = find_migdev_by_uuid(l->gpu, d->mig_uuid)))
        return NVML_ERROR_INVALID_ARGUMENT;
    return NVML_SUCCESS;
}

/* As resolve(), for calls that only make sense on a physical GPU. */
static nvmlReturn_t resolve_gpu(nvmlDevice_t d, lookup_t *l)
{
    nvmlReturn_t rc = resolve(d, l);
    if (!rc && l->mig)
        rc = NVML_ERROR_NOT_SUPPORTED;
    return rc;
}

static nvmlReturn_t done(lookup_t *l, nvmlReturn_t rc)
{
    free(l->view);
    return rc;
}

static nvmlReturn_t put_text(char *dst, unsigned int length, const char *src)
{
    if (!dst)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(src) + 1 > length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, strlen(src) + 1);
    return NVML_SUCCESS;
}

/* ------------------------------------------------------------------ init, errors, system */

NVML_EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    (void)flags;
    view_t *v = view_load();
    if (!v)
        return NVML_ERROR_DRIVER_NOT_LOADED;
    free(v);
    pthread_mutex_lock(&lock);
    init_count++;
    pthread_mutex_unlock(&lock);
    return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
NVML_EXPORT nvmlReturn_t nvmlInit(void) { return nvmlInitWithFlags(0); }

NVML_EXPORT nvmlReturn_t nvmlShutdown(void)
{
    nvmlReturn_t rc = NVML_SUCCESS;
    pthread_mutex_lock(&lock);
    if (init_count)
        init_count--;
    else
        rc = NVML_ERROR_UNINITIALIZED;
    pthread_mutex_unlock(&lock);
    return rc;
}

NVML_EXPORT const char *nvmlErrorString(nvmlReturn_t result)
{
    static const char *const text[] = {
        [0] = "Success",
        [1] = "Uninitialized",
        [2] = "Invalid Argument",
        [3] = "Not Supported",
        [4] = "Insufficient Permissions",
        [5] = "Already Initialized",
        [6] = "Not Found",
        [7] = "Insufficient Size",
        [8] = "Insufficient External Power",
        [9] = "Driver Not Loaded",
        [10] = "Timeout",
        [11] = "Interrupt Request Issue",
        [12] = "NVML Shared Library Not Found",
        [13] = "Function Not Found",
        [14] = "Corrupted infoROM",
        [15] = "GPU is lost",
        [16] = "GPU requires restart",
        [17] = "The operating system has blocked the request.",
        [18] = "RM has detected an NVML/RM version mismatch.",
        [19] = "In use by another client",
        [20] = "Insufficient Memory",
        [21] = "No data",
        [22] = "The requested vgpu operation is not available on target device, becasue ECC is enabled",
        [23] = "Insufficient resources",
        [24] = "Frequency not supported",
        [25] = "Argument version mismatch",
        [26] = "Deprecated",
        [27] = "Not Ready",
        [28] = "GPU not found",
        [29] = "Invalid state",
    };
    if (result >= 0 && result < (int)(sizeof text / sizeof text[0]) && text[result])
        return text[result];
    return "Unknown Error";
}

NVML_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    lookup_t l;
    nvmlReturn_t rc = load(&l);
    if (!rc)
        rc = put_text(version, length, l.view->driver);
    return done(&l, rc);
}

/* NVML reports "<CUDA major>.<driver version>"; the CUDA major follows the driver branch. */
NVML_EXPORT nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
    lookup_t l;
    nvmlReturn_t rc = load(&l);
    if (!rc) {
        int branch = atoi(l.view->driver);
        int cuda = branch >= 580 ? 13 : branch >= 525 ? 12 : branch >= 450 ? 11 : 10;
        char text[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE + 8];
        snprintf(text, sizeof text, "%d.%s", cuda, l.view->driver);
        rc = put_text(version, length, text);
    }
    return done(&l, rc);
}

/* ------------------------------------------------------------------ device lookup */

NVML_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
    lookup_t l;
    nvmlReturn_t rc = load(&l);
    if (!rc && !count)
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc)
        *count = l.view->ngpus;
    return done(&l, rc);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *count) { return nvmlDeviceGetCount_v2(count); }

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    lookup_t l;
    nvmlReturn_t rc = load(&l);
    if (!rc && (!device || index >= l.view->ngpus))
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc)
        *device = &gpu_handles[index];
    return done(&l, rc);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
    return nvmlDeviceGetHandleByIndex_v2(index, device);
}

/* GPU and MIG UUIDs both resolve, as in NVML since R470. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    lookup_t l;
    nvmlReturn_t rc = load(&l);
    if (rc || !uuid || !device)
        return done(&l, rc ? rc : NVML_ERROR_INVALID_ARGUMENT);
    rc = NVML_ERROR_NOT_FOUND;
    for (unsigned int i = 0; i < l.view->ngpus && rc; i++) {
        view_gpu *g = &l.view->gpu[i];
        if (!strcmp(g->uuid, uuid)) {
            *device = &gpu_handles[i];
            rc = NVML_SUCCESS;
        } else if (find_migdev_by_uuid(g, uuid)) {
            *device = mig_handle_for(i, uuid);
            rc = *device ? NVML_SUCCESS : NVML_ERROR_UNKNOWN;
        }
    }
    return done(&l, rc);
}

/* "00000000:00:06.0" -> domain, bus, device; also accepts the short "0000:00:06.0". */
static int parse_bus_id(const char *s, unsigned int *domain, unsigned int *bus, unsigned int *dev)
{
    unsigned int fn;
    char tail;
    return sscanf(s, "%x:%x:%x.%x%c", domain, bus, dev, &fn, &tail) == 4 ? 0 : -1;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *pciBusId, nvmlDevice_t *device)
{
    lookup_t l;
    unsigned int want[3], have[3];
    nvmlReturn_t rc = load(&l);
    if (rc || !pciBusId || !device || parse_bus_id(pciBusId, &want[0], &want[1], &want[2]))
        return done(&l, rc ? rc : NVML_ERROR_INVALID_ARGUMENT);
    rc = NVML_ERROR_NOT_FOUND;
    for (unsigned int i = 0; i < l.view->ngpus && rc; i++)
        if (!parse_bus_id(l.view->gpu[i].bus_id, &have[0], &have[1], &have[2]) &&
            !memcmp(want, have, sizeof want)) {
            *device = &gpu_handles[i];
            rc = NVML_SUCCESS;
        }
    return done(&l, rc);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByPciBusId(const char *pciBusId, nvmlDevice_t *device)
{
    return nvmlDeviceGetHandleByPciBusId_v2(pciBusId, device);
}

/* ------------------------------------------------------------------ device queries */

/* A MIG device is named after its parent, e.g. "NVIDIA H100 80GB HBM3 MIG 1g.10gb". */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    lookup_t l;
    nvmlReturn_t rc = resolve(device, &l);
    if (!rc && l.mig) {
        char text[2 * TEXT + 2];
        snprintf(text, sizeof text, "%s %s", l.gpu->name, l.mig->name);
        rc = put_text(name, length, text);
    } else if (!rc) {
        rc = put_text(name, length, l.gpu->name);
    }
    return done(&l, rc);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    lookup_t l;
    nvmlReturn_t rc = resolve(device, &l);
    if (!rc)
        rc = put_text(uuid, length, l.mig ? l.mig->uuid : l.gpu->uuid);
    return done(&l, rc);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    lookup_t l;
    nvmlReturn_t rc = resolve_gpu(device, &l);
    if (!rc && !index)
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc)
        *index = l.gpu_index;
    return done(&l, rc);
}

/* PCI IDs are not part of the view, so pciDeviceId and pciSubSystemId read 0. A MIG
 * device reports its parent's bus. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    lookup_t l;
    nvmlReturn_t rc = resolve(device, &l);
    if (!rc && !pci)
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc) {
        memset(pci, 0, sizeof *pci);
        if (parse_bus_id(l.gpu->bus_id, &pci->domain, &pci->bus, &pci->device))
            return done(&l, NVML_ERROR_UNKNOWN);
        snprintf(pci->busId, sizeof pci->busId, "%s", l.gpu->bus_id);
        pci->pciDeviceId = l.gpu->pci_device_id;
        pci->pciSubSystemId = l.gpu->pci_sub_system_id;
        snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04x:%02x:%02x.0", pci->domain & 0xffff,
                 pci->bus & 0xff, pci->device & 0xff);
        for (char *c = pci->busIdLegacy; *c; c++)
            *c = (char)toupper((unsigned char)*c);
    }
    return done(&l, rc);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    return nvmlDeviceGetPciInfo_v3(device, pci);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    return nvmlDeviceGetPciInfo_v3(device, pci);
}

/* The simulator runs no kernels: all memory is free. */
static nvmlReturn_t memory_total(nvmlDevice_t device, unsigned long long *total)
{
    lookup_t l;
    nvmlReturn_t rc = resolve(device, &l);
    if (!rc)
        *total = l.mig ? l.mig->mem_mib * 1048576ull : l.gpu->mem_total;
    return done(&l, rc);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    unsigned long long total;
    if (!memory && initialized())
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t rc = memory_total(device, &total);
    if (!rc) {
        memory->total = memory->free = total;
        memory->used = 0;
    }
    return rc;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    unsigned long long total;
    if (!memory && initialized())
        return NVML_ERROR_INVALID_ARGUMENT;
    if (memory && memory->version != nvmlMemory_v2 && initialized())
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    nvmlReturn_t rc = memory_total(device, &total);
    if (!rc) {
        memory->total = memory->free = total;
        memory->reserved = memory->used = 0;
    }
    return rc;
}

/* A GPU with no profile line is not MIG capable. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode,
                                              unsigned int *pendingMode)
{
    lookup_t l;
    nvmlReturn_t rc = resolve_gpu(device, &l);
    if (!rc && (!currentMode || !pendingMode))
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc && !l.gpu->nprofiles)
        rc = NVML_ERROR_NOT_SUPPORTED;
    if (!rc) {
        *currentMode = l.gpu->mig_current;
        *pendingMode = l.gpu->mig_pending;
    }
    return done(&l, rc);
}

/* ------------------------------------------------------------------ GPU instance profiles */

static nvmlReturn_t profile_by_index(nvmlDevice_t device, unsigned int index, lookup_t *l,
                                     view_profile **out)
{
    nvmlReturn_t rc = resolve_gpu(device, l);
    if (rc)
        return rc;
    if (index >= NVML_GPU_INSTANCE_PROFILE_COUNT)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (index >= MAX_PROFILE_INDEX || !l->gpu->profile[index].present)
        return NVML_ERROR_NOT_SUPPORTED;
    *out = &l->gpu->profile[index];
    return NVML_SUCCESS;
}

static nvmlReturn_t profile_by_id(nvmlDevice_t device, unsigned int id, lookup_t *l,
                                  view_profile **out)
{
    nvmlReturn_t rc = resolve_gpu(device, l);
    if (rc)
        return rc;
    if (!l->gpu->nprofiles)
        return NVML_ERROR_NOT_SUPPORTED;
    for (unsigned int i = 0; i < MAX_PROFILE_INDEX; i++)
        if (l->gpu->profile[i].present && l->gpu->profile[i].id == id) {
            *out = &l->gpu->profile[i];
            return NVML_SUCCESS;
        }
    return NVML_ERROR_INVALID_ARGUMENT;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfo(nvmlDevice_t device, unsigned int profile,
                                                             nvmlGpuInstanceProfileInfo_t *info)
{
    lookup_t l;
    view_profile *p;
    nvmlReturn_t rc = profile_by_index(device, profile, &l, &p);
    if (!rc && !info)
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc)
        *info = (nvmlGpuInstanceProfileInfo_t){p->id, p->p2p, p->slices, p->instances, p->sms, p->ce,
                                               p->dec, p->enc, p->jpeg, p->ofa, p->mem_mb};
    return done(&l, rc);
}

/* The caller sets info->version; the whole struct is then overwritten, version included,
 * which reads back as 0 (what driver 580 returns, see the captured nvml_profiles.json). */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfoV(nvmlDevice_t device, unsigned int profile,
                                                              nvmlGpuInstanceProfileInfo_v2_t *info)
{
    lookup_t l;
    view_profile *p;
    if (!info && initialized())
        return NVML_ERROR_INVALID_ARGUMENT;
    if (info && info->version != nvmlGpuInstanceProfileInfo_v2 && initialized())
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    nvmlReturn_t rc = profile_by_index(device, profile, &l, &p);
    if (!rc) {
        memset(info, 0, sizeof *info);
        info->id = p->id;
        info->isP2pSupported = p->p2p;
        info->sliceCount = p->slices;
        info->instanceCount = p->instances;
        info->multiprocessorCount = p->sms;
        info->copyEngineCount = p->ce;
        info->decoderCount = p->dec;
        info->encoderCount = p->enc;
        info->jpegCount = p->jpeg;
        info->ofaCount = p->ofa;
        info->memorySizeMB = p->mem_mb;
        snprintf(info->name, sizeof info->name, "%s", p->name);
    }
    return done(&l, rc);
}

/* placements NULL: only the count. Otherwise *count is the array's capacity on entry. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstancePossiblePlacements_v2(nvmlDevice_t device, unsigned int profileId,
                                                                       nvmlGpuInstancePlacement_t *placements,
                                                                       unsigned int *count)
{
    lookup_t l;
    view_profile *p;
    nvmlReturn_t rc = profile_by_id(device, profileId, &l, &p);
    if (!rc && !count)
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc && placements && *count < p->nplace)
        rc = NVML_ERROR_INSUFFICIENT_SIZE;
    if (!rc && placements)
        memcpy(placements, p->place, p->nplace * sizeof *placements);
    if ((!rc || rc == NVML_ERROR_INSUFFICIENT_SIZE) && count)
        *count = p->nplace;
    return done(&l, rc);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstancePossiblePlacements(nvmlDevice_t device, unsigned int profileId,
                                                                    nvmlGpuInstancePlacement_t *placements,
                                                                    unsigned int *count)
{
    return nvmlDeviceGetGpuInstancePossiblePlacements_v2(device, profileId, placements, count);
}

static int overlaps(unsigned int a_start, unsigned int a_size, unsigned int b_start, unsigned int b_size)
{
    return a_start < b_start + b_size && b_start < a_start + a_size;
}

/* How many more instances of the profile fit beside the existing GPU instances: free
 * placements that do not overlap each other, capped by the profile's instance count. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceRemainingCapacity(nvmlDevice_t device, unsigned int profileId,
                                                                   unsigned int *count)
{
    lookup_t l;
    view_profile *p;
    nvmlReturn_t rc = profile_by_id(device, profileId, &l, &p);
    if (!rc && !count)
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (rc)
        return done(&l, rc);
    unsigned int existing = 0, fits = 0, taken_start = 0, taken_size = 0;
    for (unsigned int i = 0; i < l.gpu->ngis; i++)
        existing += l.gpu->gi[i].profile_id == profileId;
    for (unsigned int k = 0; k < p->nplace; k++) {
        nvmlGpuInstancePlacement_t pl = p->place[k];
        int free_slot = !(fits && overlaps(pl.start, pl.size, taken_start, taken_size));
        for (unsigned int i = 0; i < l.gpu->ngis && free_slot; i++)
            free_slot = !overlaps(pl.start, pl.size, l.gpu->gi[i].start, l.gpu->gi[i].size);
        if (free_slot) {
            fits++;
            taken_start = pl.start;
            taken_size = pl.size;
        }
    }
    *count = existing >= p->instances ? 0 : fits < p->instances - existing ? fits : p->instances - existing;
    return done(&l, NVML_SUCCESS);
}

/* ------------------------------------------------------------------ GPU instances */

NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstances(nvmlDevice_t device, unsigned int profileId,
                                                   nvmlGpuInstance_t *gpuInstances, unsigned int *count)
{
    lookup_t l;
    view_profile *p;
    nvmlReturn_t rc = profile_by_id(device, profileId, &l, &p);
    if (!rc && (!count || !gpuInstances))
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc && !l.gpu->mig_current)
        rc = NVML_ERROR_NOT_SUPPORTED;
    if (rc)
        return done(&l, rc);
    unsigned int n = 0;
    for (unsigned int i = 0; i < l.gpu->ngis; i++)
        if (l.gpu->gi[i].profile_id == profileId)
            gpuInstances[n++] = gi_handle_for(l.gpu_index, l.gpu->gi[i].id);
    *count = n;
    return done(&l, NVML_SUCCESS);
}

static view_gi *find_gi(view_gpu *g, unsigned int id)
{
    for (unsigned int i = 0; i < g->ngis; i++)
        if (g->gi[i].id == id)
            return &g->gi[i];
    return NULL;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceById(nvmlDevice_t device, unsigned int id,
                                                      nvmlGpuInstance_t *gpuInstance)
{
    lookup_t l;
    nvmlReturn_t rc = resolve_gpu(device, &l);
    if (!rc && !gpuInstance)
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc && !l.gpu->mig_current)
        rc = NVML_ERROR_NOT_SUPPORTED;
    if (!rc && !find_gi(l.gpu, id))
        rc = NVML_ERROR_NOT_FOUND;
    if (!rc)
        *gpuInstance = gi_handle_for(l.gpu_index, id);
    return done(&l, rc);
}

NVML_EXPORT nvmlReturn_t nvmlGpuInstanceGetInfo(nvmlGpuInstance_t gpuInstance, nvmlGpuInstanceInfo_t *info)
{
    lookup_t l;
    view_gi *gi;
    nvmlReturn_t rc = load(&l);
    if (rc)
        return done(&l, rc);
    if (!info || gpuInstance < gi_handles || gpuInstance >= gi_handles + MAX_GI_HANDLES ||
        gpuInstance->gpu >= l.view->ngpus || !(gi = find_gi(&l.view->gpu[gpuInstance->gpu], gpuInstance->id)))
        return done(&l, NVML_ERROR_INVALID_ARGUMENT);
    info->device = &gpu_handles[gpuInstance->gpu];
    info->id = gi->id;
    info->profileId = gi->profile_id;
    info->placement = (nvmlGpuInstancePlacement_t){gi->start, gi->size};
    return done(&l, NVML_SUCCESS);
}

/* ------------------------------------------------------------------ MIG devices */

static unsigned int max_mig_devices(view_gpu *g)
{
    unsigned int most = 0;
    if (!g->mig_current)
        return 0;
    for (unsigned int i = 0; i < MAX_PROFILE_INDEX; i++)
        if (g->profile[i].present && g->profile[i].slices > most)
            most = g->profile[i].slices;
    return most;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    lookup_t l;
    nvmlReturn_t rc = resolve(device, &l);
    if (!rc && (!count || l.mig))
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc)
        *count = max_mig_devices(l.gpu);
    return done(&l, rc);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                             nvmlDevice_t *migDevice)
{
    lookup_t l;
    nvmlReturn_t rc = resolve(device, &l);
    if (!rc && (!migDevice || l.mig))
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc && !l.gpu->mig_current)
        rc = NVML_ERROR_NOT_SUPPORTED;
    if (!rc && index >= max_mig_devices(l.gpu))
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (rc)
        return done(&l, rc);
    rc = NVML_ERROR_NOT_FOUND;
    for (unsigned int i = 0; i < l.gpu->nmigdevs && rc; i++)
        if (l.gpu->migdev[i].index == index) {
            *migDevice = mig_handle_for(l.gpu_index, l.gpu->migdev[i].uuid);
            rc = *migDevice ? NVML_SUCCESS : NVML_ERROR_UNKNOWN;
        }
    return done(&l, rc);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice)
{
    if (!initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (!isMigDevice || (!is_gpu_handle(device) && !is_mig_handle(device)))
        return NVML_ERROR_INVALID_ARGUMENT;
    *isMigDevice = is_mig_handle(device) ? 1 : 0;
    return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t migDevice, nvmlDevice_t *device)
{
    lookup_t l;
    nvmlReturn_t rc = resolve(migDevice, &l);
    if (!rc && (!device || !l.mig))
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc)
        *device = &gpu_handles[l.gpu_index];
    return done(&l, rc);
}

static nvmlReturn_t mig_id(nvmlDevice_t device, int want_ci, unsigned int *id)
{
    lookup_t l;
    nvmlReturn_t rc = resolve(device, &l);
    if (!rc && !id)
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc && !l.mig)
        rc = NVML_ERROR_NOT_SUPPORTED;
    if (!rc)
        *id = want_ci ? l.mig->ci : l.mig->gi;
    return done(&l, rc);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
    return mig_id(device, 0, id);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id)
{
    return mig_id(device, 1, id);
}

/* ------------------------------------------------------------------ changes: nvidia-smi only */

static nvmlReturn_t read_only(void)
{
    return initialized() ? NVML_ERROR_NOT_SUPPORTED : NVML_ERROR_UNINITIALIZED;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceSetMigMode(nvmlDevice_t d, unsigned int m, nvmlReturn_t *s)
{
    (void)d, (void)m, (void)s;
    return read_only();
}

NVML_EXPORT nvmlReturn_t nvmlDeviceCreateGpuInstance(nvmlDevice_t d, unsigned int p, nvmlGpuInstance_t *g)
{
    (void)d, (void)p, (void)g;
    return read_only();
}

NVML_EXPORT nvmlReturn_t nvmlDeviceCreateGpuInstanceWithPlacement(nvmlDevice_t d, unsigned int p,
                                                                  const nvmlGpuInstancePlacement_t *pl,
                                                                  nvmlGpuInstance_t *g)
{
    (void)d, (void)p, (void)pl, (void)g;
    return read_only();
}

NVML_EXPORT nvmlReturn_t nvmlGpuInstanceDestroy(nvmlGpuInstance_t g)
{
    (void)g;
    return read_only();
}

NVML_EXPORT nvmlReturn_t nvmlGpuInstanceCreateComputeInstance(nvmlGpuInstance_t g, unsigned int p,
                                                              nvmlComputeInstance_t *c)
{
    (void)g, (void)p, (void)c;
    return read_only();
}

NVML_EXPORT nvmlReturn_t nvmlComputeInstanceDestroy(nvmlComputeInstance_t c)
{
    (void)c;
    return read_only();
}

/* Compute instances: profile info and instances of a GPU instance (nvml_compute.c). */
#include "nvml_compute.c"

